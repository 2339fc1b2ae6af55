package awsfake_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// trustWithExternalID lets the account's principals assume the role when
// they give the external ID "prefect-42", and set a source identity.
const trustWithExternalID = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole",
     "Condition": {"StringEquals": {"sts:ExternalId": "prefect-42"}}},
    {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:SetSourceIdentity"}
  ]
}`

func TestAssumeRoleTrustPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	role := e.s.CreateRole("prefect-worker", trustWithExternalID)
	if role != "arn:aws:iam::123456789012:role/prefect-worker" {
		t.Fatalf("CreateRole = %s", role)
	}
	denied := "User: " + user + " is not authorized to perform: sts:AssumeRole on resource: " + role
	for _, ext := range []*string{nil, aws.String("prefect-41")} {
		_, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("w1"), ExternalId: ext})
		if apiCode(err) != "AccessDenied" || httpStatus(err) != 403 || apiMessage(err) != denied {
			t.Errorf("external ID %q: %v (status %d)", aws.ToString(ext), err, httpStatus(err))
		}
	}
	out, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("w1"),
		ExternalId: aws.String("prefect-42"), SourceIdentity: aws.String("alice"), DurationSeconds: aws.Int32(900),
		SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/alice"), TokenCode: aws.String("123456")})
	if err != nil {
		t.Fatalf("with the external ID: %v", err)
	}

	// Role chaining: the session is a principal of the account too.
	chained, err := e.as(t, out.Credentials).sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role),
		RoleSessionName: aws.String("again"), ExternalId: aws.String("prefect-42")})
	if err != nil {
		t.Errorf("chained AssumeRole: %v", err)
	}

	// A trust policy naming someone else keeps the user out, whatever
	// it sends; so does a path that is not the role's.
	other := e.s.CreateRole("service-role/ci", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::123456789012:user/ci"}, "Action": "sts:AssumeRole"}}`)
	if other != "arn:aws:iam::123456789012:role/service-role/ci" {
		t.Errorf("role with a path = %s", other)
	}
	_, err = e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(other), RoleSessionName: aws.String("w1")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("untrusted user = %v", err)
	}
	_, err = e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/x/prefect-worker"), RoleSessionName: aws.String("w1"), ExternalId: aws.String("prefect-42")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("wrong path = %v", err)
	}
	// Setting a source identity needs sts:SetSourceIdentity in the trust.
	_, err = e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(other), RoleSessionName: aws.String("w1"), SourceIdentity: aws.String("bob")})
	if apiCode(err) != "AccessDenied" {
		t.Errorf("source identity without sts:SetSourceIdentity = %v", err)
	}
	// Roles never created keep accepting anyone.
	if _, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/legacy"), RoleSessionName: aws.String("w1")}); err != nil {
		t.Errorf("unknown role: %v", err)
	}

	calls := e.s.AssumeRoleCalls()
	if len(calls) != 8 {
		t.Fatalf("%d calls recorded: %+v", len(calls), calls)
	}
	want := awsfake.AssumeRoleCall{RoleARN: role, SessionName: "w1", ExternalID: "prefect-42", SourceIdentity: "alice",
		SerialNumber: "arn:aws:iam::123456789012:mfa/alice", DurationSeconds: 900, AccessKeyID: aws.ToString(out.Credentials.AccessKeyId)}
	if calls[2] != want {
		t.Errorf("recorded %+v\nwant     %+v", calls[2], want)
	}
	if calls[0].AccessKeyID != "" || calls[1].ExternalID != "prefect-41" || calls[3].AccessKeyID != aws.ToString(chained.Credentials.AccessKeyId) {
		t.Errorf("recorded %+v", calls[:4])
	}
	if d := e.s.Denied()["sts:AssumeRole"]; d != 5 {
		t.Errorf("Denied()[sts:AssumeRole] = %d, want 5", d)
	}
}

func TestAssumeRoleNeedsIdentityPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	allowed := "arn:aws:iam::123456789012:role/allowed"
	if err := e.s.SetIdentityPolicy(user, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/allowed"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(allowed), RoleSessionName: aws.String("s1")}); err != nil {
		t.Errorf("allowed role: %v", err)
	}
	_, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/admin"), RoleSessionName: aws.String("s1")})
	if want := "User: " + user + " is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/admin"; apiMessage(err) != want || apiCode(err) != "AccessDenied" {
		t.Errorf("role the user may not assume = %v", err)
	}
	for _, tc := range []struct {
		name string
		in   *sts.AssumeRoleInput
	}{
		{"external ID too short", &sts.AssumeRoleInput{ExternalId: aws.String("x")}},
		{"token code not six digits", &sts.AssumeRoleInput{SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/a"), TokenCode: aws.String("12ab56")}},
		{"source identity with a space", &sts.AssumeRoleInput{SourceIdentity: aws.String("a b")}},
	} {
		tc.in.RoleArn, tc.in.RoleSessionName = aws.String(allowed), aws.String("s1")
		if _, err := e.sts.AssumeRole(e.ctx, tc.in); apiCode(err) != "ValidationError" {
			t.Errorf("%s = %v", tc.name, err)
		}
	}
	for _, c := range e.s.AssumeRoleCalls() {
		if c.SerialNumber != "" && c.AccessKeyID != "" {
			t.Errorf("a call with a bad MFA code issued a key: %+v", c)
		}
	}
}

// TestCallLog tells which session signed each call.
func TestCallLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	e.cluster(t, "c")
	e.register(t, fargateTD("f"))
	var keys []string
	for _, session := range []string{"pool-a", "pool-b"} {
		out, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/runner"), RoleSessionName: aws.String(session)})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(out.Credentials.AccessKeyId))
		if _, err := e.as(t, out.Credentials).ecs.RunTask(e.ctx, e.fargateRun("c", "f")); err != nil {
			t.Fatal(err)
		}
	}
	var runs []awsfake.Call
	for _, c := range e.s.CallLog() {
		if c.Key == "ecs:RunTask" {
			runs = append(runs, c)
		}
	}
	want := []awsfake.Call{
		{Key: "ecs:RunTask", AccessKeyID: keys[0], Caller: "arn:aws:sts::123456789012:assumed-role/runner/pool-a"},
		{Key: "ecs:RunTask", AccessKeyID: keys[1], Caller: "arn:aws:sts::123456789012:assumed-role/runner/pool-b"},
	}
	if !slices.Equal(runs, want) {
		t.Errorf("RunTask calls %+v\nwant %+v", runs, want)
	}
	log := e.s.CallLog()
	if first := log[0]; first != (awsfake.Call{Key: "ecs:CreateCluster", AccessKeyID: "AKIDEXAMPLE", Caller: user}) {
		t.Errorf("first call %+v", first)
	}
	if _, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.CallLog()); n != len(log)+1 {
		t.Errorf("log grew by %d", n-len(log))
	}
}
