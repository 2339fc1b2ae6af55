package prefecterr

import "testing"

func TestParseDetailTruncates(t *testing.T) {
	t.Parallel()
	long := make([]byte, 0, 5000)
	long = append(long, `{"detail":"`...)
	for range 2000 {
		long = append(long, "é"...)
	}
	long = append(long, `"}`...)
	got := ParseDetail(long)
	if len(got) > maxDetail+len("…") {
		t.Errorf("detail of %d bytes", len(got))
	}
	for _, r := range got {
		if r == '\uFFFD' {
			t.Fatal("cut inside a character")
		}
	}
	if d := ParseDetail([]byte(`{"detail":[1,2,3,4,5,6,7]}`)); d != "1; 2; 3; 4; 5; and 2 more" {
		t.Errorf("list detail %q", d)
	}
	if d := ParseDetail([]byte(`{"other":1}`)); d != `{"other":1}` {
		t.Errorf("unknown shape %q", d)
	}
}
