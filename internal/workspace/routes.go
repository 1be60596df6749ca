package workspace

import (
	"net/http"

	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// maxBody bounds request bodies: snapshots carry whole pipeline
// configurations.
const maxBody = 16 << 20

// routes is the API's table of contents. Everything is under /api/v1 except
// the health probe.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, h httpapi.HandlerFunc) { mux.Handle(pattern, httpapi.Handle(h)) }
	authed := func(pattern string, h authedFunc) { mux.Handle(pattern, s.authed(h)) }

	mux.HandleFunc("GET /health", httpapi.Health)
	mux.HandleFunc("HEAD /health", httpapi.Health)
	open("GET /api/v1/info", s.info)
	open("GET /api/v1/version", s.version)
	open("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) error { httpapi.Health(w, r); return nil })

	// Sessions
	open("POST /api/v1/login", s.login)
	open("POST /api/v1/logout", s.logout)
	authed("GET /api/v1/current-user", s.currentUser)
	authed("GET /api/v1/api_token", s.apiToken)
	authed("GET /api/v1/settings", s.getSettings)
	authed("PUT /api/v1/settings", s.updateSettings)

	// Users, service accounts and their API keys
	authed("GET /api/v1/users", s.listUsers)
	authed("POST /api/v1/users", s.createUser)
	authed("GET /api/v1/users/{id}", s.getUser)
	authed("PUT /api/v1/users/{id}", s.updateUser)
	authed("DELETE /api/v1/users/{id}", s.deleteUser)
	authed("GET /api/v1/service_accounts", s.listServiceAccounts)
	authed("POST /api/v1/service_accounts", s.createServiceAccount)
	authed("GET /api/v1/service_accounts/{id}", s.getServiceAccount)
	authed("PUT /api/v1/service_accounts/{id}", s.updateServiceAccount)
	authed("DELETE /api/v1/service_accounts/{id}", s.deleteServiceAccount)
	authed("GET /api/v1/service_accounts/{id}/api_keys", s.listAPIKeys)
	authed("POST /api/v1/service_accounts/{id}/api_keys", s.createAPIKey)
	authed("GET /api/v1/service_accounts/{id}/api_keys/{key}", s.getAPIKey)
	authed("PUT /api/v1/service_accounts/{id}/api_keys/{key}/rotate", s.rotateAPIKey)
	authed("DELETE /api/v1/service_accounts/{id}/api_keys/{key}", s.deleteAPIKey)

	// Projects
	authed("GET /api/v1/projects", s.listProjects)
	authed("POST /api/v1/projects", s.createProject)
	authed("GET /api/v1/projects/{id}", s.getProject)
	authed("PUT /api/v1/projects/{id}", s.updateProject)
	authed("DELETE /api/v1/projects/{id}", s.deleteProject)

	// Stacks, components, flavors
	authed("GET /api/v1/stacks", s.listStacks)
	authed("POST /api/v1/stacks", s.createStack)
	authed("GET /api/v1/stacks/{id}", s.getStack)
	authed("PUT /api/v1/stacks/{id}", s.updateStack)
	authed("DELETE /api/v1/stacks/{id}", s.deleteStack)
	authed("GET /api/v1/components", s.listComponents)
	authed("POST /api/v1/components", s.createComponent)
	authed("GET /api/v1/components/{id}", s.getComponent)
	authed("PUT /api/v1/components/{id}", s.updateComponent)
	authed("DELETE /api/v1/components/{id}", s.deleteComponent)
	authed("GET /api/v1/flavors", s.listFlavors)
	authed("POST /api/v1/flavors", s.createFlavor)
	authed("GET /api/v1/flavors/{id}", s.getFlavor)
	authed("DELETE /api/v1/flavors/{id}", s.deleteFlavor)

	// Pipelines and snapshots
	authed("GET /api/v1/pipelines", s.listPipelines)
	authed("POST /api/v1/pipelines", s.createPipeline)
	authed("GET /api/v1/pipelines/{id}", s.getPipeline)
	authed("PUT /api/v1/pipelines/{id}", s.updatePipeline)
	authed("DELETE /api/v1/pipelines/{id}", s.deletePipeline)
	authed("GET /api/v1/code_repositories", s.listCodeRepositories)
	authed("POST /api/v1/code_repositories", s.createCodeRepository)
	authed("GET /api/v1/code_repositories/{id}", s.getCodeRepository)
	authed("PUT /api/v1/code_repositories/{id}", s.updateCodeRepository)
	authed("DELETE /api/v1/code_repositories/{id}", s.deleteCodeRepository)
	authed("GET /api/v1/pipeline_snapshots", s.listSnapshots)
	authed("POST /api/v1/pipeline_snapshots", s.createSnapshot)
	authed("GET /api/v1/pipeline_snapshots/{id}", s.getSnapshot)
	authed("PUT /api/v1/pipeline_snapshots/{id}", s.updateSnapshot)
	authed("DELETE /api/v1/pipeline_snapshots/{id}", s.deleteSnapshot)
	authed("POST /api/v1/pipeline_snapshots/{id}/runs", s.runSnapshot) // 404 without a workload manager

	// Runs, steps and their logs
	authed("GET /api/v1/runs", s.listRuns)
	authed("POST /api/v1/runs", s.createRun)
	authed("GET /api/v1/runs/{id}", s.getRun)
	authed("PUT /api/v1/runs/{id}", s.updateRun)
	authed("DELETE /api/v1/runs/{id}", s.deleteRun)
	authed("POST /api/v1/runs/{id}/stop", s.stopRun)
	authed("POST /api/v1/runs/{id}/refresh", s.refreshRun)
	authed("GET /api/v1/runs/{id}/steps", s.listRunSteps)
	authed("GET /api/v1/runs/{id}/logs", s.getRunLogs)
	authed("POST /api/v1/runs/{id}/logs", s.appendRunLogs)
	authed("GET /api/v1/steps", s.listSteps)
	authed("POST /api/v1/steps", s.createStep)
	authed("GET /api/v1/steps/{id}", s.getStep)
	authed("PUT /api/v1/steps/{id}", s.updateStep)
	authed("GET /api/v1/steps/{id}/logs", s.getStepLogs)
	authed("POST /api/v1/steps/{id}/logs", s.appendStepLogs)

	// Artifacts
	authed("GET /api/v1/artifacts", s.listArtifacts)
	authed("POST /api/v1/artifacts", s.createArtifact)
	authed("GET /api/v1/artifacts/{id}", s.getArtifact)
	authed("PUT /api/v1/artifacts/{id}", s.updateArtifact)
	authed("DELETE /api/v1/artifacts/{id}", s.deleteArtifact)
	authed("GET /api/v1/artifact_versions", s.listArtifactVersions)
	authed("POST /api/v1/artifact_versions", s.createArtifactVersion)
	authed("POST /api/v1/artifact_versions/batch", s.createArtifactVersions)
	authed("GET /api/v1/artifact_versions/{id}", s.getArtifactVersion)
	authed("PUT /api/v1/artifact_versions/{id}", s.updateArtifactVersion)
	authed("DELETE /api/v1/artifact_versions/{id}", s.deleteArtifactVersion)

	// Models
	authed("GET /api/v1/models", s.listModels)
	authed("POST /api/v1/models", s.createModel)
	authed("GET /api/v1/models/{id}", s.getModel)
	authed("PUT /api/v1/models/{id}", s.updateModel)
	authed("DELETE /api/v1/models/{id}", s.deleteModel)
	authed("GET /api/v1/model_versions", s.listModelVersions)
	authed("POST /api/v1/model_versions", s.createModelVersion)
	authed("GET /api/v1/model_versions/{id}", s.getModelVersion)
	authed("PUT /api/v1/model_versions/{id}", s.updateModelVersion)
	authed("DELETE /api/v1/model_versions/{id}", s.deleteModelVersion)

	// Secrets
	authed("GET /api/v1/secrets", s.listSecrets)
	authed("POST /api/v1/secrets", s.createSecret)
	authed("GET /api/v1/secrets/{id}", s.getSecret)
	authed("PUT /api/v1/secrets/{id}", s.updateSecret)
	authed("DELETE /api/v1/secrets/{id}", s.deleteSecret)

	// Tags and run metadata
	authed("GET /api/v1/tags", s.listTags)
	authed("POST /api/v1/tags", s.createTag)
	authed("GET /api/v1/tags/{id}", s.getTag)
	authed("PUT /api/v1/tags/{id}", s.updateTag)
	authed("DELETE /api/v1/tags/{id}", s.deleteTag)
	authed("POST /api/v1/run-metadata", s.createRunMetadata)

	mux.HandleFunc("/", httpapi.NoRoute(mux))
	return mux
}

// middleware wraps the routes in the shared plumbing, outermost first.
func (s *Server) middleware(h http.Handler) http.Handler {
	return httpapi.Chain(h,
		s.idle.Middleware,
		httpapi.WithRequest(s.log),
		httpapi.Recover,
		httpapi.AccessLog,
		httpapi.SecurityHeaders,
		limitConcurrency(s.cfg.ThreadPool),
		httpapi.LimitBody(maxBody),
	)
}

// limitConcurrency serves at most n requests at once (ZENML_SERVER_THREAD_POOL_SIZE);
// the health probe is never held back, so that a busy server is not killed.
func limitConcurrency(n int) httpapi.Middleware {
	return func(next http.Handler) http.Handler {
		if n <= 0 {
			return next
		}
		sem := make(chan struct{}, n)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				next.ServeHTTP(w, r)
				return
			}
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				next.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		})
	}
}
