// Package enroll enrolls a workspace in a control plane and writes the values
// file that installs it with the workspace chart: the Go successor of the
// deployment guide's enroll-workspace.py. It asks the script's questions when a
// person is at a terminal and takes every answer from flags when not, so the
// same step runs by hand and from automation. The enrollment key, which the
// control plane shows only once, goes into that file and nowhere else.
package enroll

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/enclave-mlops/enclave/client"
)

// Options are the answers given up front, by flags. An empty field is asked
// for on a terminal and is an error otherwise.
type Options struct {
	URL                string // the control plane, e.g. https://enclave.example.com
	Username           string // empty: asked, default admin
	Password           string
	PasswordGiven      bool   // Password came from a file, stdin or the environment
	Organization       string // id or name
	CreateOrganization string // a new organization's name
	Workspace          string
	Overwrite          bool   // replace a workspace of the same name
	Output             string // empty: zenml-<workspace>-values.yaml

	// What the values file carries besides the enrollment.
	DatabaseURL     string
	ImageRepository string
	ImageTag        string
	ServerURL       string
	IngressHost     string
	IngressClass    string
	TLSSecret       string

	// HTTPClient talks to the control plane; nil: a default client.
	HTTPClient *http.Client
}

// Result is what an enrollment did.
type Result struct {
	Declined     bool // the person answered n; nothing was changed
	Organization client.Organization
	WorkspaceID  string
	Workspace    string
	Output       string
	Replaced     string // id of the workspace deleted to make room, if any
}

// workspaceName is the control plane's rule for workspace names.
var workspaceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// CheckWorkspaceName reports whether name is a valid workspace name.
func CheckWorkspaceName(name string) error {
	if len(name) > 50 {
		return fmt.Errorf("workspace name %q is longer than 50 characters", name)
	}
	if !workspaceName.MatchString(name) {
		return fmt.Errorf("workspace name %q may hold only lowercase letters, digits and hyphens, and must start and end with a letter or digit", name)
	}
	return nil
}

var databaseURL = regexp.MustCompile(`^(mysql|postgresql|sqlite)(\+[a-z0-9]+)?://.+`)

// Check validates the options that need no server, so bad input fails before
// anything is created.
func (o *Options) Check() error {
	if o.URL != "" {
		if err := checkHTTPURL("--url", o.URL); err != nil {
			return err
		}
	}
	if o.Workspace != "" {
		if err := CheckWorkspaceName(o.Workspace); err != nil {
			return fmt.Errorf("--workspace: %w", err)
		}
	}
	if o.Organization != "" && o.CreateOrganization != "" {
		return errors.New("give --organization or --create-organization, not both")
	}
	if o.DatabaseURL != "" && !databaseURL.MatchString(o.DatabaseURL) {
		return errors.New("--database-url must look like mysql://user:password@host:3306/db, postgresql://... or sqlite:///path")
	}
	if o.ServerURL != "" {
		if err := checkHTTPURL("--server-url", o.ServerURL); err != nil {
			return err
		}
	}
	if o.IngressHost != "" && strings.ContainsAny(o.IngressHost, "/: ") {
		return fmt.Errorf("--ingress-host %q must be a host name, without scheme or port", o.IngressHost)
	}
	if o.IngressClass != "" && o.IngressHost == "" {
		return errors.New("--ingress-class needs --ingress-host")
	}
	if o.TLSSecret != "" && o.IngressHost == "" {
		return errors.New("--tls-secret needs --ingress-host")
	}
	if o.ImageTag != "" && strings.ContainsAny(o.ImageTag, ":@/ ") {
		return fmt.Errorf("--image-tag %q is not a tag", o.ImageTag)
	}
	return nil
}

func checkHTTPURL(flag, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q must be an http:// or https:// URL", flag, v)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s %q must not carry a query or fragment", flag, v)
	}
	return nil
}

// complete reports the first answer missing from flags, in the order the
// questions would come.
func (o *Options) complete() error {
	switch {
	case o.URL == "":
		return errors.New("--url is required")
	case !o.PasswordGiven:
		return errors.New("no password: give --password-file, --password-stdin or ENCLAVE_PASSWORD")
	case o.Organization == "" && o.CreateOrganization == "":
		return errors.New("--organization (id or name) or --create-organization is required")
	case o.Workspace == "":
		return errors.New("--workspace is required")
	}
	return nil
}

// HTTPClient returns a client that trusts the system's roots, plus the PEM
// certificates in caFile when given (an internal CA).
func HTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// Run enrolls a workspace. p asks for missing answers; nil means no terminal,
// and then a missing answer is an error naming its flag. out gets the
// script's progress lines; it never gets the enrollment key.
func Run(ctx context.Context, o Options, p *Prompter, out io.Writer) (Result, error) {
	var res Result
	if err := o.Check(); err != nil {
		return res, err
	}
	if p == nil {
		if err := o.complete(); err != nil {
			return res, err
		}
	}
	var err error
	if o.URL == "" {
		for {
			if o.URL, err = p.Ask(ctx, "What is the URL of your ZenML Pro instance? (e.g. https://zenml-pro.mydomain.com)", ""); err != nil {
				return res, err
			}
			if err = checkHTTPURL("the URL", o.URL); err == nil {
				break
			}
			fmt.Fprintln(out, err)
		}
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.Username == "" {
		o.Username = "admin"
		if p != nil {
			if o.Username, err = p.Ask(ctx, "Enter the ZenML Pro admin account username", "admin"); err != nil {
				return res, err
			}
		}
	}
	if !o.PasswordGiven {
		if o.Password, err = p.AskPassword(ctx, "Enter the ZenML Pro admin account password"); err != nil {
			return res, err
		}
	}

	cp := client.NewControlPlane(o.URL, "", o.HTTPClient)
	if err := cp.Login(ctx, o.Username, o.Password); err != nil {
		return res, fmt.Errorf("login failed: %w", err)
	}
	fmt.Fprintln(out, "Login successful.")

	org, ok, err := pickOrganization(ctx, cp, &o, p, out)
	if err != nil || !ok {
		res.Declined = !ok && err == nil
		return res, err
	}
	res.Organization = org

	if o.Workspace == "" {
		def := "zenml-" + randomHex(4)
		for {
			if o.Workspace, err = p.Ask(ctx, "Choose a name for the workspace (only lowercase letters, numbers, and hyphens)", def); err != nil {
				return res, err
			}
			if err = CheckWorkspaceName(o.Workspace); err == nil {
				break
			}
			fmt.Fprintln(out, err)
		}
	}
	res.Workspace = o.Workspace
	if o.Output == "" {
		o.Output = "zenml-" + o.Workspace + "-values.yaml"
	}
	res.Output = o.Output

	var existing []client.ControlPlaneWorkspace
	if org.ID != "" { // a new organization has none
		if existing, err = cp.ListWorkspaces(ctx, org.ID, o.Workspace); err != nil {
			return res, fmt.Errorf("list the workspaces of %s: %w", org.Name, err)
		}
	}
	if len(existing) > 0 && !o.Overwrite {
		if p == nil {
			return res, fmt.Errorf("a workspace named %s already exists in %s [%s]; pass --overwrite to delete it and enroll a new one", o.Workspace, org.Name, org.ID)
		}
		yes, err := p.Confirm(ctx, fmt.Sprintf("A workspace with name %s already exists. Overwrite?", o.Workspace))
		if err != nil {
			return res, err
		}
		if !yes {
			fmt.Fprintln(out, "Exiting.")
			res.Declined = true
			return res, nil
		}
	}

	// The output must be writable before the key exists: it is shown once.
	f, err := createOutput(o.Output)
	if err != nil {
		return res, err
	}
	committed := false
	defer func() {
		if !committed {
			f.abort()
		}
	}()
	encKey, err := NewEncryptionKey()
	if err != nil {
		return res, err
	}

	if org.ID == "" {
		if org, err = cp.CreateOrganization(ctx, o.CreateOrganization, ""); err != nil {
			return res, fmt.Errorf("create organization %s: %w", o.CreateOrganization, err)
		}
		fmt.Fprintf(out, "Organization created successfully: %s [%s]\n", org.Name, org.ID)
		res.Organization = org
	}
	for _, w := range existing {
		if err := cp.DeleteWorkspace(ctx, w.ID); err != nil {
			return res, fmt.Errorf("delete workspace %s: %w", w.ID, err)
		}
		fmt.Fprintf(out, "Workspace deleted successfully: %s\n", w.ID)
		res.Replaced = w.ID
	}
	ws, err := cp.CreateWorkspace(ctx, org.ID, o.Workspace, true)
	if err != nil {
		return res, fmt.Errorf("enroll workspace %s: %w", o.Workspace, err)
	}
	if ws.EnrollmentKey == "" {
		return res, fmt.Errorf("enroll workspace %s: the control plane answered without an enrollment key", o.Workspace)
	}
	res.WorkspaceID = ws.ID
	fmt.Fprintf(out, "Workspace enrolled successfully: %s [%s]\n", ws.Name, ws.ID)
	orgName := ws.Organization.Name
	if orgName == "" {
		orgName = org.Name
	}
	data, err := Values{
		ControlPlaneURL: o.URL, OrganizationID: org.ID, OrganizationName: orgName,
		WorkspaceID: ws.ID, WorkspaceName: ws.Name, EnrollmentKey: ws.EnrollmentKey, EncryptionKey: encKey,
		DatabaseURL: o.DatabaseURL, ImageRepository: o.ImageRepository, ImageTag: o.ImageTag,
		ServerURL: o.ServerURL, IngressHost: o.IngressHost, IngressClass: o.IngressClass, TLSSecret: o.TLSSecret,
	}.Render()
	if err == nil {
		err = f.commit(data)
	}
	committed = true // commit cleans up after itself
	if err != nil {
		return res, fmt.Errorf("workspace %s [%s] was enrolled, but its values file could not be written (%v); its key is lost: run again with --overwrite", ws.Name, ws.ID, err)
	}

	fmt.Fprintf(out, `
The workspace was enrolled successfully. It can be accessed at:
%s/workspaces/%s

The workspace server Helm values were written to: %s
It holds the enrollment key: keep it as secret as a password.

To install the workspace, run:
    helm --namespace zenml-pro-%s upgrade --install --create-namespace \
        zenml <enclave-workspace chart> --values %s
`, o.URL, ws.Name, o.Output, ws.Name, o.Output)
	return res, nil
}

// pickOrganization finds the organization to enroll in: the one named by a
// flag, a new one, or the person's choice among those that exist. ok is false
// when the person declined.
func pickOrganization(ctx context.Context, cp *client.ControlPlane, o *Options, p *Prompter, out io.Writer) (client.Organization, bool, error) {
	if o.CreateOrganization != "" {
		// Created only once everything else is known, so that a bad answer
		// later leaves nothing behind.
		return client.Organization{Name: o.CreateOrganization}, true, nil
	}
	orgs, err := cp.ListOrganizations(ctx)
	if err != nil {
		return client.Organization{}, false, fmt.Errorf("list organizations: %w", err)
	}
	if o.Organization != "" {
		for _, org := range orgs {
			if org.ID == o.Organization {
				return org, true, nil
			}
		}
		var names []string
		for _, org := range orgs {
			if org.Name == o.Organization {
				return org, true, nil
			}
			names = append(names, org.Name)
		}
		return client.Organization{}, false, fmt.Errorf("--organization %q: no organization with that id or name (you see: %s)", o.Organization, strings.Join(names, ", "))
	}
	switch len(orgs) {
	case 0:
		return client.Organization{}, false, errors.New("no organizations found: create one first, or pass --create-organization NAME")
	case 1:
		org := orgs[0]
		yes, err := p.Confirm(ctx, fmt.Sprintf("The following organization was found: %s [%s]. Use this organization?", org.Name, org.ID))
		if err != nil || !yes {
			if err == nil {
				fmt.Fprintln(out, "Exiting.")
			}
			return org, false, err
		}
		return org, true, nil
	}
	for {
		var b strings.Builder
		for _, org := range orgs {
			fmt.Fprintf(&b, "\n%s [%s]", org.Name, org.ID)
		}
		fmt.Fprintf(out, "The following organizations are available:%s\n", b.String())
		id, err := p.Ask(ctx, "Which organization ID should the workspace be enrolled in?", "")
		if err != nil {
			return client.Organization{}, false, err
		}
		for _, org := range orgs {
			if org.ID == id {
				return org, true, nil
			}
		}
		fmt.Fprintln(out, "Invalid organization ID. Please try again.")
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
