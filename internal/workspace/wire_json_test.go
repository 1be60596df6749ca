package workspace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// The strings a run's fields are filled with: plain ones and every kind
// that encoding/json escapes or repairs.
var jsonTestStrings = []string{
	"", "run-7", "0190c3a2-8e1d-7f00-9a3b-4c5d6e7f8091", "completed", "#ff00aa",
	`with "quotes"`, `back\slash`, "line\nbreak\ttab\r", "\x00\x01\x1f\x7f", "<b>&amp;</b>",
	"ünïcödé ✓ 日本", "\u2028\u2029", "bad \xff\xfe utf-8", "\xc3", "emoji 🚀",
}

// The JSON texts a step's config and spec are filled with (nil: none).
var jsonTestRaw = []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`{ "enable_cache" : true,
 "x": [1, 2.5e3, "<&>"] }`), json.RawMessage(`null`), json.RawMessage(`"\u00e9\n"`), json.RawMessage(` [ ] `)}

// fillValue sets every field reachable from v to a value drawn from r: a
// field of a kind it does not know fails the test, so that a field added to
// the wire types is either filled here or noticed.
func fillValue(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[client.Time]():
		at := time.Date(1990+r.IntN(60), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), time.UTC)
		v.Set(reflect.ValueOf(client.NewTime(at)))
		return
	case reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(jsonTestRaw[r.IntN(len(jsonTestRaw))]))
		return
	case reflect.TypeFor[any]():
		if a := anyValue(r, 2); a != nil {
			v.Set(reflect.ValueOf(a))
		} else {
			v.SetZero()
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(jsonTestStrings[r.IntN(len(jsonTestStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt(r.Int64N(1<<40) - 1<<39)
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fillValue(t, r, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch n := r.IntN(5) - 1; n {
		case -1:
			v.SetZero()
		default:
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fillValue(t, r, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Map:
		if r.IntN(4) == 0 {
			v.SetZero()
			return
		}
		m := reflect.MakeMap(v.Type())
		for range r.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			fillValue(t, r, k)
			fillValue(t, r, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			fillValue(t, r, v.Field(i))
		}
	default:
		t.Fatalf("fillValue: a field of kind %s (%s): teach the run encoder and this test about it", v.Kind(), v.Type())
	}
}

// anyValue is a value as run metadata holds it: decoded JSON.
func anyValue(r *rand.Rand, depth int) any {
	switch k := r.IntN(7); {
	case k == 0:
		return nil
	case k == 1:
		return r.IntN(2) == 0
	case k == 2:
		return r.NormFloat64() * 1e6
	case k == 3 && depth > 0:
		return []any{anyValue(r, depth-1), anyValue(r, depth-1)}
	case k == 4 && depth > 0:
		return map[string]any{jsonTestStrings[r.IntN(len(jsonTestStrings))]: anyValue(r, depth-1)}
	default:
		return jsonTestStrings[r.IntN(len(jsonTestStrings))]
	}
}

// encodingJSON is what httpapi.WriteJSON sends for v.
func encodingJSON(t *testing.T, v any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	httpapi.WriteJSON(rec, 200, v)
	return rec.Body.Bytes()
}

// sentByOK is what ok sends for v.
func sentByOK(t *testing.T, v any) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := ok(rec, v); err != nil {
		t.Fatal(err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Fatalf("Content-Length %q for %d bytes", cl, rec.Body.Len())
	}
	return rec.Body.Bytes()
}

// wantSameJSON fails unless ok sends v as httpapi.WriteJSON does, and as
// valid JSON.
func wantSameJSON(t *testing.T, what string, v any) {
	t.Helper()
	want, got := encodingJSON(t, v), sentByOK(t, v)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
	if !json.Valid(got) {
		t.Fatalf("%s: not JSON: %s", what, got)
	}
}

// sameJSONFilled checks n values of T, each filled from r.
func sameJSONFilled[T any](t *testing.T, r *rand.Rand, n int, what string) {
	t.Helper()
	for i := range n {
		var v T
		fillValue(t, r, reflect.ValueOf(&v).Elem())
		wantSameJSON(t, fmt.Sprintf("%s %d", what, i), v)
	}
}

func TestHandEncodedJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sameJSONFilled[client.Run](t, r, 2000, "run")
	sameJSONFilled[client.Step](t, r, 2000, "step")
	sameJSONFilled[client.Page[client.Run]](t, r, 300, "page of runs")
	sameJSONFilled[client.Page[client.Step]](t, r, 300, "page of steps")
}

func FuzzHandEncodedJSON(f *testing.F) {
	for _, s := range jsonTestStrings {
		f.Add(s, s, s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, id, name, tag string, index int64) {
		run := client.Run{ID: id, Name: name, Body: client.RunBody{Status: tag, Index: index, OrchestratorRunID: &tag},
			Resources: &client.Tagged{Tags: []client.TagRef{{ID: id, Name: tag, Color: name}}},
			Metadata:  &client.RunMetadata{RunMetadata: map[string]any{tag: name, name: []any{id, float64(index)}}}}
		wantSameJSON(t, "run", run)
		st := client.Step{ID: id, Name: name, Body: client.StepBody{Status: tag, Inputs: map[string][]string{name: {id, tag}, tag: nil}},
			Metadata: &client.StepMetadata{CacheKey: tag, Config: json.RawMessage(`{"k": 1}`), ParentStepIDs: []string{name}, RunMetadata: map[string]any{id: tag}}}
		wantSameJSON(t, "step", st)
	})
}

// BenchmarkRunPageJSON writes a page of 50 runs as a list answers it, by
// the hand encoder and by encoding/json (the baseline), to an answer that
// discards it.
func BenchmarkRunPageJSON(b *testing.B) {
	page := client.Page[client.Run]{Index: 1, MaxSize: 50, TotalPages: 20000, Total: 1_000_000}
	now := time.Now()
	for i := range 50 {
		pipeline, stack := "0190c3a2-8e1d-7f00-9a3b-4c5d6e7f8091", "0190c3a2-8e1d-7f00-9a3b-4c5d6e7f8092"
		page.Items = append(page.Items, client.Run{ID: "0190c3a2-8e1d-7f00-9a3b-4c5d6e7f80" + strconv.Itoa(10+i), Name: "pipeline-07-run-" + strconv.Itoa(i),
			Body: client.RunBody{Created: client.NewTime(now), Updated: client.NewTime(now), UserID: stack, ProjectID: stack, Status: "completed",
				Index: int64(i), PipelineID: &pipeline, SnapshotID: pipeline, StackID: &stack, StartTime: client.TimeOf(now), EndTime: client.TimeOf(now)},
			Resources: &client.Tagged{Tags: []client.TagRef{}}})
	}
	w := discardWriter{h: http.Header{}}
	b.Run("hand", func(b *testing.B) {
		for b.Loop() {
			_ = ok(w, page)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			httpapi.WriteJSON(w, http.StatusOK, page)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}
