package clikit

import "github.com/spf13/pflag"

// AWSFlags choose the AWS account and region of the infra and
// task-definitions commands. --profile is the Prefect profile everywhere
// in ecsworker, so the AWS profile is --aws-profile.
type AWSFlags struct {
	Region, Profile string
	prefectProfile  string // a hidden --profile, for AWSOnly
}

// Register adds --region and --aws-profile to fs.
func (f *AWSFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Region, "region", "", "AWS `REGION` (default: AWS_REGION, else the AWS profile's)")
	fs.StringVar(&f.Profile, "aws-profile", "", "AWS shared config `PROFILE` (default: AWS_PROFILE, else default)")
}

// AWSOnly is for commands that talk to AWS and not to Prefect: they have
// no --profile, and people used to the AWS CLI type it for --aws-profile.
// A hidden one turns "unknown flag" into the flag to use.
func (f *AWSFlags) AWSOnly(fs *pflag.FlagSet) {
	fs.StringVar(&f.prefectProfile, "profile", "", "")
	_ = fs.MarkHidden("profile")
}

// Check refuses the hidden --profile of AWSOnly.
func (f *AWSFlags) Check() error {
	if f.prefectProfile != "" {
		return Invalid("--profile %q: the AWS profile is --aws-profile %s (--profile is the Prefect profile, and this command does not talk to Prefect)", f.prefectProfile, f.prefectProfile)
	}
	return nil
}
