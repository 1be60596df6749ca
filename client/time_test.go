package client

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// Time is written exactly as time.Format with TimeLayout writes it, in UTC,
// and reads back as itself, to the microsecond.
func TestTimeJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	times := []time.Time{{}, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 23, 5, 9, 123456789, time.FixedZone("x", 5*3600+1800))}
	for range 2000 {
		times = append(times, time.UnixMicro(rng.Int64N(4_000_000_000_000_000)))
	}
	for _, tm := range times {
		b, err := json.Marshal(NewTime(tm))
		if err != nil {
			t.Fatal(err)
		}
		if want := `"` + tm.UTC().Format(TimeLayout) + `"`; string(b) != want {
			t.Fatalf("%v: %s, want %s", tm, b, want)
		}
		if tm.Year() < 0 || tm.Year() > 9999 {
			continue
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tm.Truncate(time.Microsecond)) {
			t.Fatalf("%s read back as %v, %v", b, back, err)
		}
	}
}
