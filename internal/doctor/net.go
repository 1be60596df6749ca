package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// run carries one doctor run's settings and report.
type run struct {
	cfg   Config
	rep   *Report
	roots *x509.CertPool // nil: the system's roots
	cp    controlPlaneState
}

// hostPort returns u's host and port, with the scheme's default port.
func hostPort(u *url.URL) (string, string) {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Hostname(), port
}

// reach checks what lies under HTTP for the server at u: its name resolves,
// its port accepts connections and, for https, its certificate chain is
// valid and trusted. It reports whether HTTP checks are worth running.
func (d *run) reach(ctx context.Context, u *url.URL) bool {
	host, port := hostPort(u)
	addr := net.JoinHostPort(host, port)
	if net.ParseIP(host) == nil {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		addrs, err := net.DefaultResolver.LookupHost(cctx, host)
		cancel()
		if err != nil {
			d.rep.add("dns", host, Fail, "does not resolve: %v", unwrapDNS(err))
			d.rep.add("tcp", addr, Skip, "the name does not resolve")
			return false
		}
		d.rep.add("dns", host, OK, "resolves to %s", strings.Join(addrs, ", "))
	}
	dialer := &net.Dialer{Timeout: d.cfg.Timeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		d.rep.add("tcp", addr, Fail, "cannot connect: %v", unwrapOp(err))
		return false
	}
	conn.Close()
	d.rep.add("tcp", addr, OK, "connected")
	if u.Scheme != "https" {
		return true
	}
	return d.checkTLS(ctx, host, addr)
}

// checkTLS does a handshake without verification, then verifies the chain
// itself, so that a failure can say what is wrong with which certificate.
func (d *run) checkTLS(ctx context.Context, host, addr string) bool {
	dialer := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: d.cfg.Timeout},
		Config:    &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // verified below, against the chosen roots
	}
	cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	conn, err := dialer.DialContext(cctx, "tcp", addr)
	if err != nil {
		d.rep.add("tls", addr, Fail, "handshake failed: %v", unwrapOp(err))
		return false
	}
	state := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	certs := state.PeerCertificates
	if len(certs) == 0 {
		d.rep.add("tls", addr, Fail, "the server sent no certificate")
		return false
	}
	now := d.cfg.Now()
	for _, c := range certs {
		if now.After(c.NotAfter) {
			d.rep.add("tls", addr, Fail, "certificate %s expired %s (%d days ago)",
				c.Subject, c.NotAfter.UTC().Format(time.DateOnly), days(now.Sub(c.NotAfter)))
			return false
		}
		if now.Before(c.NotBefore) {
			d.rep.add("tls", addr, Fail, "certificate %s is not valid before %s; check this machine's clock",
				c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
			return false
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots: d.roots, Intermediates: inter, DNSName: host, CurrentTime: now,
	})
	if err != nil {
		d.rep.add("tls", addr, Fail, "%s", d.explainVerify(err, certs))
		return false
	}
	// The chain expires with its first certificate to expire, the CA included.
	first := chains[0][0]
	for _, c := range chains[0] {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	left := days(first.NotAfter.Sub(now))
	detail := fmt.Sprintf("%s, issued by %s, trusted by %s; expires %s (%d days)",
		certs[0].Subject, certs[0].Issuer, d.rootsName(), first.NotAfter.UTC().Format(time.DateOnly), left)
	if first != certs[0] {
		detail += fmt.Sprintf(", first in the chain to expire: %s", first.Subject)
	}
	st := OK
	if left < d.cfg.WarnDays {
		st = Warn
		detail += fmt.Sprintf(": fewer than %d days left, renew it", d.cfg.WarnDays)
	}
	d.rep.add("tls", addr, st, "%s", detail)
	return true
}

func (d *run) rootsName() string {
	if d.roots != nil {
		return d.cfg.CAFile
	}
	return "the system's roots"
}

// explainVerify turns a verification error into advice.
func (d *run) explainVerify(err error, certs []*x509.Certificate) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ua):
		issuer := certs[len(certs)-1].Issuer.String()
		if ua.Cert != nil {
			issuer = ua.Cert.Issuer.String()
		}
		if d.roots != nil {
			return fmt.Sprintf("certificate signed by unknown authority %s: not the CA in %s", issuer, d.cfg.CAFile)
		}
		return fmt.Sprintf("certificate signed by unknown authority %s: give the internal CA with --ca-file", issuer)
	case errors.As(err, &he):
		names := he.Certificate.DNSNames
		for _, ip := range he.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		return fmt.Sprintf("certificate is for %s, not %s", strings.Join(names, ", "), he.Host)
	}
	return "certificate not valid: " + err.Error()
}

// days rounds a duration down to whole days.
func days(d time.Duration) int { return int(math.Floor(d.Hours() / 24)) }

// unwrapOp drops the "dial tcp 1.2.3.4:5:" prefix that repeats the target.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func unwrapDNS(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return errors.New("no such host")
		}
		return errors.New(de.Err)
	}
	return err
}

// httpClient is the client of the HTTP checks: it trusts what the TLS check
// trusted and waits no longer than the timeout.
func (d *run) httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: d.roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: d.cfg.Timeout}
}
