package inflight

import (
	"strconv"
	"testing"
)

// TestLabelTableBound checks that the deployments the metrics name are
// bounded: past MaxDeploymentLabels, new ones are "other".
func TestLabelTableBound(t *testing.T) {
	l := newLabelTable(MaxDeploymentLabels)
	if got := l.names[l.id("")]; got != UnknownLabel {
		t.Errorf("no deployment is %q, want %q", got, UnknownLabel)
	}
	for i := range MaxDeploymentLabels {
		name := "flow/dep-" + strconv.Itoa(i)
		if got := l.names[l.id(name)]; got != name {
			t.Fatalf("deployment %d is %q", i, got)
		}
	}
	if got := l.names[l.id("flow/one-too-many")]; got != OtherLabel {
		t.Errorf("deployment %d is %q, want %q", MaxDeploymentLabels+1, got, OtherLabel)
	}
	if got := l.names[l.id("flow/dep-7")]; got != "flow/dep-7" {
		t.Errorf("a known deployment became %q once the table was full", got)
	}
	if len(l.names) != MaxDeploymentLabels+2 {
		t.Errorf("%d names kept", len(l.names))
	}
}
