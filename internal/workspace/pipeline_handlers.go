package workspace

import (
	"encoding/json"
	"net/http"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- pipelines

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, pipelineSpec, rtPipeline, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListPipelines(r.Context(), lq))
}

func (s *Server) createPipeline(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.PipelineRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkText("description", req.Description, 65535), checkTags("tags", req.Tags)); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtPipeline)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreatePipeline(r.Context(), p.UserID, project, req))
}

// pipelines is how the handlers read a pipeline and learn whose it is.
func (s *Server) pipelines() family[client.Pipeline] {
	return family[client.Pipeline]{rtPipeline, s.store.Pipeline, func(v client.Pipeline) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.pipelines())
}

func (s *Server) updatePipeline(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.PipelineUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptText("description", u.Description, 65535), checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	if _, err := s.pipelines().authorized(s, r, p, rbac.Update, id, false); err != nil {
		return err
	}
	return respond(w)(s.store.UpdatePipeline(r.Context(), p.UserID, id, u))
}

func (s *Server) deletePipeline(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.pipelines(), s.store.DeletePipeline)
}

// ---- snapshots

const maxConfigBytes = 8 << 20

func validateSnapshotRequest(req *client.SnapshotRequest) error {
	if !validID(req.Stack) && req.Stack != "" {
		if err := checkName("stack", req.Stack); err != nil {
			return err
		}
	}
	size := len(req.PipelineConfiguration) + len(req.PipelineSpec)
	for name, c := range req.StepConfigurations {
		if err := checkName("step_configurations key", name); err != nil {
			return err
		}
		if !rawObject(c) {
			return errs.E(errs.Invalid, "step_configurations.%s must be an object", name)
		}
		size += len(c)
	}
	if size > maxConfigBytes {
		return errs.E(errs.Invalid, "the snapshot's configuration is larger than %d bytes", maxConfigBytes)
	}
	var optErr error
	for _, ref := range []*string{req.Build, req.Schedule} {
		if ref != nil && !validID(*ref) {
			optErr = errs.E(errs.Invalid, "build and schedule must be ids")
		}
	}
	var nameErr error
	if req.Name != "" {
		nameErr = checkName("name", req.Name)
	}
	return firstErr(nameErr, optErr,
		checkName("pipeline", req.Pipeline),
		checkName("stack", req.Stack),
		checkText("description", req.Description, 65535),
		checkText("run_name_template", req.RunNameTemplate, 1024),
		checkText("client_version", req.ClientVersion, 64),
		checkText("server_version", req.ServerVersion, 64),
		objectField("pipeline_configuration", req.PipelineConfiguration),
		objectField("pipeline_spec", req.PipelineSpec),
		checkTags("tags", req.Tags))
}

func objectField(name string, b json.RawMessage) error {
	if !rawObject(b) {
		return errs.E(errs.Invalid, "%s must be an object", name)
	}
	return nil
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, snapshotSpec, rtSnapshot, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListSnapshots(r.Context(), lq))
}

func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.SnapshotRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateSnapshotRequest(&req); err != nil {
		return err
	}
	project, err := s.projectFor(r.Context(), p, req.Project, rtSnapshot)
	if err != nil {
		return err
	}
	return respond(w)(s.store.CreateSnapshot(r.Context(), p.UserID, project, req))
}

// snapshots is how the handlers read a snapshot and learn whose it is.
func (s *Server) snapshots() family[client.Snapshot] {
	return family[client.Snapshot]{rtSnapshot, s.store.Snapshot, func(v client.Snapshot) (string, string) { return v.Body.ProjectID, v.Body.UserID }}
}

func (s *Server) getSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.snapshots())
}

func (s *Server) updateSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.SnapshotUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("description", u.Description, 65535), checkTags("add_tags", u.AddTags), checkTags("remove_tags", u.RemoveTags)); err != nil {
		return err
	}
	if _, err := s.snapshots().authorized(s, r, p, rbac.Update, id, false); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateSnapshot(r.Context(), p.UserID, id, u))
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.snapshots(), s.store.DeleteSnapshot)
}
