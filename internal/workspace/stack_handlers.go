package workspace

import (
	"net/http"
	"slices"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/errs"
	"github.com/enclave-mlops/enclave/internal/rbac"
)

// ---- projects

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, projectSpec, rtProject, false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListProjects(r.Context(), lq))
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkText("display_name", req.DisplayName, 255), checkText("description", req.Description, 65535)); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Create, rtProject, "", "", ""); err != nil {
		return err
	}
	return respond(w)(s.store.CreateProject(r.Context(), req))
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	pr, err := s.store.Project(r.Context(), r.PathValue("id"), h)
	if err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Read, rtProject, "", pr.ID, ""); err != nil {
		return err
	}
	return ok(w, pr)
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.ProjectUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("display_name", u.DisplayName, 255), checkOptText("description", u.Description, 65535)); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Update, rtProject, "", id, ""); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateProject(r.Context(), id, u))
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := firstErr(noQuery(r), s.authorize(r.Context(), p, rbac.Delete, rtProject, "", id, "")); err != nil {
		return err
	}
	if err := s.store.DeleteProject(r.Context(), id); err != nil {
		return err
	}
	s.forget(r.Context(), rtProject, "", id)
	return ok(w, nil)
}

// respond answers with a store result or its error.
func respond(w http.ResponseWriter) func(any, error) error {
	return func(v any, err error) error {
		if err != nil {
			return err
		}
		return ok(w, v)
	}
}

// ---- stacks

func validateComponents(m map[string][]string) error {
	if len(m) > len(componentTypes) {
		return errs.E(errs.Invalid, "components: too many component types")
	}
	return nil
}

func (s *Server) listStacks(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, stackSpec, rtStack, true)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListStacks(r.Context(), lq))
}

func (s *Server) createStack(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.StackRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := firstErr(checkName("name", req.Name), checkText("description", req.Description, 65535), validateComponents(req.Components)); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Create, rtStack, "", "", ""); err != nil {
		return err
	}
	return respond(w)(s.store.CreateStack(r.Context(), p.UserID, req))
}

// stacks is how the handlers read a stack and learn whose it is.
func (s *Server) stacks() family[client.Stack] {
	return family[client.Stack]{rtStack, s.store.Stack, func(v client.Stack) (string, string) { return "", v.Body.UserID }}
}

func (s *Server) getStack(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.stacks())
}

func (s *Server) updateStack(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.StackUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkOptText("description", u.Description, 65535), validateComponents(u.Components)); err != nil {
		return err
	}
	if _, err := s.stacks().authorized(s, r, p, rbac.Update, id, false); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateStack(r.Context(), id, u))
}

func (s *Server) deleteStack(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.stacks(), s.store.DeleteStack)
}

// ---- components

func validateComponentRequest(c *client.ComponentRequest) error {
	if !slices.Contains(componentTypes, c.Type) {
		return errs.E(errs.Invalid, "type %q is not a component type", c.Type)
	}
	return firstErr(checkName("name", c.Name), checkName("flavor", c.Flavor),
		checkJSONSize("configuration", c.Configuration), checkJSONSize("labels", c.Labels))
}

// checkJSONSize bounds a free-form object.
func checkJSONSize(field string, v map[string]any) error {
	if len(jsonText(v)) > 1<<20 {
		return errs.E(errs.Invalid, "%s is larger than 1 MiB", field)
	}
	return nil
}

func (s *Server) listComponents(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, componentSpec, rtComponent, true)
	if err != nil {
		return err
	}
	if v := lq.params.Get("stack_id"); v != "" && !validID(v) {
		return errs.E(errs.Invalid, "stack_id %q is not an id", v)
	}
	return respond(w)(s.store.ListComponents(r.Context(), lq))
}

func (s *Server) createComponent(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ComponentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateComponentRequest(&req); err != nil {
		return err
	}
	if err := s.authorize(r.Context(), p, rbac.Create, rtComponent, "", "", ""); err != nil {
		return err
	}
	return respond(w)(s.store.CreateComponent(r.Context(), p.UserID, req))
}

// components is how the handlers read a component and learn whose it is.
func (s *Server) components() family[client.Component] {
	return family[client.Component]{rtComponent, s.store.Component, func(v client.Component) (string, string) { return "", v.Body.UserID }}
}

func (s *Server) getComponent(w http.ResponseWriter, r *http.Request, p *principal) error {
	return getOne(s, w, r, p, s.components())
}

func (s *Server) updateComponent(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var u client.ComponentUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := firstErr(checkOptName("name", u.Name), checkJSONSize("configuration", u.Configuration), checkJSONSize("labels", u.Labels)); err != nil {
		return err
	}
	if _, err := s.components().authorized(s, r, p, rbac.Update, id, false); err != nil {
		return err
	}
	return respond(w)(s.store.UpdateComponent(r.Context(), id, u))
}

func (s *Server) deleteComponent(w http.ResponseWriter, r *http.Request, p *principal) error {
	return deleteOne(s, w, r, p, s.components(), s.store.DeleteComponent)
}

// ---- flavors: readable by everyone, managed by admins

func (s *Server) listFlavors(w http.ResponseWriter, r *http.Request, p *principal) error {
	lq, err := s.listRequest(r, p, flavorSpec, "", false)
	if err != nil {
		return err
	}
	return respond(w)(s.store.ListFlavors(r.Context(), lq))
}

func (s *Server) createFlavor(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.FlavorRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	typeErr := error(nil)
	if !slices.Contains(componentTypes, req.Type) {
		typeErr = errs.E(errs.Invalid, "type %q is not a component type", req.Type)
	}
	if err := firstErr(checkName("name", req.Name), typeErr, checkName("source", req.Source), checkText("integration", req.Integration, 255),
		checkText("logo_url", req.LogoURL, 2048), checkJSONSize("config_schema", req.ConfigSchema), requireAdmin(p)); err != nil {
		return err
	}
	return respond(w)(s.store.CreateFlavor(r.Context(), p.UserID, req))
}

func (s *Server) getFlavor(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	h, err := hydrate(r)
	if err != nil {
		return err
	}
	return respond(w)(s.store.Flavor(r.Context(), id, h))
}

func (s *Server) deleteFlavor(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := firstErr(noQuery(r), requireAdmin(p)); err != nil {
		return err
	}
	if err := s.store.DeleteFlavor(r.Context(), id); err != nil {
		return err
	}
	return ok(w, nil)
}
