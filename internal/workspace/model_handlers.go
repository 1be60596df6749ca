package workspace

import (
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- models

func validateModelRequest(m *client.ModelRequest) error {
	return firstErr(checkName("name", m.Name),
		checkText("description", m.Description, 65535), checkText("license", m.License, 65535),
		checkText("audience", m.Audience, 65535), checkText("use_cases", m.UseCases, 65535),
		checkText("limitations", m.Limitations, 65535), checkText("trade_offs", m.TradeOffs, 65535),
		checkText("ethics", m.Ethics, 65535), checkTags("tags", m.Tags))
}

func validateModelUpdate(m *client.ModelUpdate) error {
	return firstErr(checkOptName("name", m.Name),
		checkOptText("description", m.Description, 65535), checkOptText("license", m.License, 65535),
		checkOptText("audience", m.Audience, 65535), checkOptText("use_cases", m.UseCases, 65535),
		checkOptText("limitations", m.Limitations, 65535), checkOptText("trade_offs", m.TradeOffs, 65535),
		checkOptText("ethics", m.Ethics, 65535), checkTags("add_tags", m.AddTags), checkTags("remove_tags", m.RemoveTags))
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, modelSpec, rtModel, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListModels(r.Context(), lq))
}

func (s *Server) createModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ModelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateModelRequest(&req); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtModel)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateModel(r.Context(), p.UserID, project, req))
}

func (s *Server) model(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.Model, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return client.Model{}, err
	}
	m, err := s.store.Model(r.Context(), id, hydrate)
	if err != nil {
		return m, err
	}
	return m, s.authorize(r.Context(), p, action, rtModel, m.Body.ProjectID, id, m.Body.UserID)
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	return respond(w)(s.model(r, p, rbac.Read, h))
}

func (s *Server) updateModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ModelUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := validateModelUpdate(&u); err != nil {
		return err
	}
	m, err := s.model(r, p, rbac.Update, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateModel(r.Context(), p.UserID, m.ID, u))
}

func (s *Server) deleteModel(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	m, err := s.model(r, p, rbac.Delete, false)
	if err != nil {
		return err
	}
	if err := s.store.DeleteModel(r.Context(), m.ID); err != nil {
		return err
	}
	s.forget(r.Context(), rtModel, m.Body.ProjectID, m.ID)
	return ok(w, nil)
}

// ---- model versions

func (s *Server) listModelVersions(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, modelVersionSpec, rtModelVersion, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListModelVersions(r.Context(), lq))
}

func (s *Server) createModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ModelVersionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var nameErr error
	if req.Name != "" {
		nameErr = checkName("name", req.Name)
	}
	if err := firstErr(checkName("model", req.Model), nameErr, checkText("description", req.Description, 65535), checkTags("tags", req.Tags)); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtModelVersion)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateModelVersion(r.Context(), p.UserID, project, req))
}

func (s *Server) modelVersion(r *http.Request, p *principal, action rbac.Action, hydrate bool) (client.ModelVersion, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return client.ModelVersion{}, err
	}
	v, err := s.store.ModelVersion(r.Context(), id, hydrate)
	if err != nil {
		return v, err
	}
	return v, s.authorize(r.Context(), p, action, rtModelVersion, v.Body.ProjectID, id, v.Body.UserID)
}

func (s *Server) getModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	return respond(w)(s.modelVersion(r, p, rbac.Read, h))
}

// updateModelVersion needs promote, not just update, to change a stage.
func (s *Server) updateModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	var u client.ModelVersionUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	var stageErr error
	if u.Stage != nil {
		stageErr = checkStatus("stage", *u.Stage, client.ModelStages)
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("description", u.Description, 65535), stageErr,
		checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	action := rbac.Update
	if u.Stage != nil {
		action = rbac.Promote
	}
	v, err := s.modelVersion(r, p, action, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.UpdateModelVersion(r.Context(), p.UserID, v.ID, u))
}

func (s *Server) deleteModelVersion(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := noQuery(r); err != nil {
		return err
	}
	v, err := s.modelVersion(r, p, rbac.Delete, false)
	if err != nil {
		return err
	}
	if err := s.store.DeleteModelVersion(r.Context(), v.ID); err != nil {
		return err
	}
	s.forget(r.Context(), rtModelVersion, v.Body.ProjectID, v.ID)
	return ok(w, nil)
}
