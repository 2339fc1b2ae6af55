package awsfake_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// BenchmarkRunTaskDescribeTasks measures a launch and a status check
// through the real SDK client, the fake's hot path in worker benchmarks.
func BenchmarkRunTaskDescribeTasks(b *testing.B) {
	for _, bc := range []struct {
		name      string
		inProcess bool
	}{{"in-process", true}, {"loopback-http", false}} {
		b.Run(bc.name, func(b *testing.B) {
			var s *awsfake.Server
			if bc.inProcess {
				s = awsfake.New(awsfake.Options{DisableThrottling: true})
				b.Cleanup(s.Close)
			} else {
				s = awsfake.NewTestServer(b, awsfake.Options{DisableThrottling: true})
			}
			cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
			if bc.inProcess {
				cfg.HTTPClient = s.HTTPClient()
			}
			client := ecs.NewFromConfig(cfg)
			ctx := b.Context()
			s.CreateCluster("bench")
			if _, err := client.RegisterTaskDefinition(ctx, fargateTD("bench")); err != nil {
				b.Fatal(err)
			}
			_, subnets, _ := s.DefaultNetwork()
			in := &ecs.RunTaskInput{Cluster: aws.String("bench"), TaskDefinition: aws.String("bench"), LaunchType: ecstypes.LaunchTypeFargate,
				NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: subnets}}}
			b.ReportAllocs()
			for b.Loop() {
				out, err := client.RunTask(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("bench"), Tasks: []string{aws.ToString(out.Tasks[0].TaskArn)}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
		})
	}
}
