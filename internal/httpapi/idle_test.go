package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIdleReleaseAfterABusySpellOnly(t *testing.T) {
	released := 0
	i := &IdleRelease{release: func() { released++ }}
	h := i.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(n int) {
		for range n {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}
	}
	var seen, spell int64
	look := func() { seen, spell = i.tick(seen, spell) }

	serve(10) // a trickle, such as probes
	look()
	look()
	look()
	if released != 0 {
		t.Fatalf("released after %d requests", 10)
	}
	serve(minBusy) // busy: nothing until a quiet look
	look()
	if released != 0 {
		t.Fatal("released while requests came in")
	}
	look()
	if released != 1 {
		t.Fatalf("released %d times after the spell, want 1", released)
	}
	look()
	look()
	if released != 1 {
		t.Fatalf("released %d times while idle, want 1", released)
	}
	serve(minBusy)
	look()
	look()
	if released != 2 {
		t.Fatalf("released %d times after a second spell, want 2", released)
	}
}
