package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/sqldb"
)

// Server settings (GET|PUT /api/v1/settings): the name and logo the server
// shows and the dashboard's switches, kept as one JSON document in
// ws_settings, and when a user last logged in. The server runs without the
// internet: it sends no analytics, and refuses to be told to.

const (
	settingsKey     = "server_settings"
	lastActivityKey = "last_user_activity" // microseconds, written at each login
)

// storedSettings is the document under settingsKey.
type storedSettings struct {
	ServerName           string  `json:"server_name,omitempty"`
	LogoURL              *string `json:"logo_url,omitempty"`
	DisplayAnnouncements *bool   `json:"display_announcements,omitempty"`
	DisplayUpdates       *bool   `json:"display_updates,omitempty"`
	LastUserActivity     int64   `json:"last_user_activity,omitempty"`
	Updated              int64   `json:"updated,omitempty"`
}

// serverSettings reads the settings document ("{}" before any change) and
// the time of the last login (0 before any).
func (s *Store) serverSettings(ctx context.Context) (storedSettings, string, int64, error) {
	var st storedSettings
	raw, err := s.SettingOrInit(ctx, settingsKey, func() string { return "{}" })
	if err != nil {
		return st, "", 0, err
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, "", 0, errs.Wrap(errs.Other, err, "read the server settings")
	}
	var last int64
	switch v, err := s.Setting(ctx, lastActivityKey); {
	case err == nil:
		last, _ = strconv.ParseInt(v, 10, 64)
	case !errors.Is(err, sqldb.ErrNotFound):
		return st, "", 0, err
	}
	return st, raw, last, nil
}

// changeServerSettings applies change to the settings document, unless it
// was changed by another request between reading and writing: then the
// caller is told to try again.
func (s *Store) changeServerSettings(ctx context.Context, change func(*storedSettings)) error {
	st, raw, _, err := s.serverSettings(ctx)
	if err != nil {
		return err
	}
	change(&st)
	st.Updated = s.now()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, "UPDATE ws_settings SET value = ? WHERE name = ? AND value = ?", string(b), settingsKey, raw)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errs.E(errs.Conflict, "the settings were changed meanwhile: read them again and retry")
	}
	return nil
}

// noteLogin records the time of a login as the last user activity.
func (s *Store) noteLogin(ctx context.Context) error {
	v := strconv.FormatInt(s.now(), 10)
	res, err := s.db.Exec(ctx, "UPDATE ws_settings SET value = ? WHERE name = ?", v, lastActivityKey)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	if _, err := s.db.Exec(ctx, "INSERT INTO ws_settings (name, value) VALUES (?, ?)", lastActivityKey, v); err != nil && !sqldb.IsUniqueViolation(err) {
		return err
	}
	return nil
}

// settings answers the settings as the wire has them. The name defaults to
// the one /info shows; times default to the server's start.
func (s *Server) settings(ctx context.Context) (client.ServerSettings, error) {
	st, _, last, err := s.store.serverSettings(ctx)
	if err != nil {
		return client.ServerSettings{}, err
	}
	off := false
	b := client.ServerSettingsBody{ServerID: s.serverID, ServerName: st.ServerName, LogoURL: st.LogoURL, Active: true,
		DisplayAnnouncements: st.DisplayAnnouncements, DisplayUpdates: st.DisplayUpdates,
		LastUserActivity: wireTime(max(last, st.LastUserActivity, s.started)), Updated: wireTime(max(st.Updated, s.started))}
	if b.ServerName == "" {
		b.ServerName = s.defaultName()
	}
	// No internet, nothing to announce and no updates to fetch.
	if b.DisplayAnnouncements == nil {
		b.DisplayAnnouncements = &off
	}
	if b.DisplayUpdates == nil {
		b.DisplayUpdates = &off
	}
	return client.ServerSettings{ID: s.serverID, Body: b, Metadata: &client.NoResources{}, Resources: &client.NoResources{}}, nil
}

// defaultName is the server's name until an administrator sets one: the
// workspace's name in pro mode.
func (s *Server) defaultName() string {
	if s.cfg.ProMode() && s.cfg.Pro.WorkspaceName != "" {
		return s.cfg.Pro.WorkspaceName
	}
	return "enclave"
}

// serverName is the name an administrator set, or defaultName. It only
// reads, so that the open /info never writes.
func (s *Server) serverName(ctx context.Context) string {
	var st storedSettings
	if raw, err := s.store.Setting(ctx, settingsKey); err == nil && json.Unmarshal([]byte(raw), &st) == nil && st.ServerName != "" {
		return st.ServerName
	}
	return s.defaultName()
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if _, err := hydrate(r); err != nil {
		return err
	}
	return respond(w)(s.settings(r.Context()))
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var u client.ServerSettingsUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := validateSettingsUpdate(&u); err != nil {
		return err
	}
	err := s.store.changeServerSettings(r.Context(), func(st *storedSettings) {
		if u.ServerName != nil {
			st.ServerName = *u.ServerName
		}
		if u.LogoURL != nil {
			st.LogoURL = u.LogoURL
			if *u.LogoURL == "" {
				st.LogoURL = nil
			}
		}
		if u.DisplayAnnouncements != nil {
			st.DisplayAnnouncements = u.DisplayAnnouncements
		}
		if u.DisplayUpdates != nil {
			st.DisplayUpdates = u.DisplayUpdates
		}
		if u.LastUserActivity != nil {
			st.LastUserActivity = u.LastUserActivity.UnixMicro()
		}
	})
	if err != nil {
		return err
	}
	return respond(w)(s.settings(r.Context()))
}

func validateSettingsUpdate(u *client.ServerSettingsUpdate) error {
	if u.ServerName != nil {
		name := strings.TrimSpace(*u.ServerName)
		if name == "" || len(name) > 255 {
			return errs.E(errs.Invalid, "server_name must be 1 to 255 characters")
		}
		u.ServerName = &name
	}
	if err := checkLogoURL(u.LogoURL); err != nil {
		return err
	}
	if u.EnableAnalytics != nil && *u.EnableAnalytics {
		return errs.E(errs.Invalid, "this server sends no analytics: it is built to run without the internet, so enable_analytics stays false")
	}
	return nil
}
