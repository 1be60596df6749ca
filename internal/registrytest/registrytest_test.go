package registrytest_test

import (
	"net/http"
	"testing"

	"github.com/enclave-mlops/enclave/internal/registrytest"
)

func TestRegistryAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts registrytest.Options
		want int // status of an anonymous GET /v2/
	}{
		{"plain", registrytest.Options{}, http.StatusOK},
		{"tls+auth", registrytest.Options{TLS: true, Username: "u", Password: "p"}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registrytest.New(t, tc.opts)
			c := &http.Client{Transport: r.Transport()}
			resp, err := c.Get(r.URL() + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("anonymous GET /v2/: status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.opts.Username == "" {
				return
			}
			req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/", nil)
			req.SetBasicAuth(r.Username, r.Password)
			resp, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /v2/ with credentials: status %d", resp.StatusCode)
			}
			// An untrusting client must fail: proves TLS is really on.
			if _, err := http.Get(r.URL() + "/v2/"); err == nil {
				t.Fatal("a client without the test CA was accepted")
			}
		})
	}
}
