{{/* Names and labels. */}}

{{- define "ws.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name, so that the seed's `helm install zenml` gives deployment/zenml. */}}
{{- define "ws.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "ws.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ws.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ws.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ws.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: enclave
{{- end -}}

{{- define "ws.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ws.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ws.image" -}}
{{- $img := .Values.zenml.image -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Both lists of pull secrets, each name once. */}}
{{- define "ws.imagePullSecrets" -}}
{{- $names := list -}}
{{- range (concat (.Values.imagePullSecrets | default list) (.Values.zenml.imagePullSecrets | default list)) -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- with ($names | uniq) -}}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{- define "ws.resources" -}}
{{- if .Values.zenml.resources -}}
{{- toYaml .Values.zenml.resources -}}
{{- else -}}
{{- toYaml (.Values.resources | default dict) -}}
{{- end -}}
{{- end -}}

{{/* Which database: "url", "external" or "sqlite". */}}
{{- define "ws.dbMode" -}}
{{- if .Values.zenml.database.url -}}url
{{- else if .Values.zenml.database.external.host -}}external
{{- else -}}sqlite
{{- end -}}
{{- end -}}

{{- define "ws.migrationEnabled" -}}
{{- if and .Values.zenml.migration.enabled (ne (include "ws.dbMode" .) "sqlite") (not (hasPrefix "sqlite" .Values.zenml.database.url)) -}}true{{- end -}}
{{- end -}}

{{- define "ws.dbPort" -}}
{{- $ext := .Values.zenml.database.external -}}
{{- if $ext.port -}}{{ int $ext.port }}{{- else if eq $ext.type "postgresql" -}}5432{{- else -}}3306{{- end -}}
{{- end -}}

{{- define "ws.serverURL" -}}
{{- if .Values.zenml.serverURL -}}
{{- .Values.zenml.serverURL -}}
{{- else if and .Values.zenml.ingress.enabled .Values.zenml.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.zenml.ingress.tls.enabled) .Values.zenml.ingress.host -}}
{{- end -}}
{{- end -}}

{{/* The workload manager is on when its implementation is named. */}}
{{- define "ws.workloadManager" -}}
{{- $env := .Values.zenml.environment | default dict -}}
{{- if get $env "ZENML_SERVER_WORKLOAD_MANAGER_IMPLEMENTATION_SOURCE" -}}true{{- end -}}
{{- end -}}

{{- define "ws.workloadNamespace" -}}
{{- $env := .Values.zenml.environment | default dict -}}
{{- default .Release.Namespace (get $env "ZENML_KUBERNETES_WORKLOAD_MANAGER_NAMESPACE" | toString) -}}
{{- end -}}

{{- define "ws.runnerServiceAccount" -}}
{{- $env := .Values.zenml.environment | default dict -}}
{{- default "zenml-runner" (get $env "ZENML_KUBERNETES_WORKLOAD_MANAGER_SERVICE_ACCOUNT" | toString) -}}
{{- end -}}

{{- define "ws.caEnabled" -}}
{{- $ca := .Values.caCertificates -}}
{{- if or $ca.configMap $ca.secret $ca.pem -}}true{{- end -}}
{{- end -}}

{{/*
Secrets. Three of them:
- <fullname>: what the values carry (database URL or password, enrollment key);
- <fullname>-keys: keys the chart generates once and keeps (JWT key, encryption key);
  `helm.sh/resource-policy: keep` so that an uninstall does not strand encrypted data;
- <fullname>-migration: a hook copy of the database credentials, because the
  migration Job runs before the release's own objects exist.
*/}}
{{- define "ws.credentials" -}}
{{- $d := dict -}}
{{- $db := .Values.zenml.database -}}
{{- if $db.url -}}{{- $_ := set $d "store-url" $db.url -}}{{- end -}}
{{- if and (eq (include "ws.dbMode" .) "external") $db.external.password (not $db.external.existingSecret) -}}
{{- $_ := set $d "store-password" $db.external.password -}}
{{- end -}}
{{- if and .Values.zenml.pro.enabled .Values.zenml.pro.enrollmentKey (not .Values.zenml.pro.existingSecret) -}}
{{- $_ := set $d "enrollment-key" .Values.zenml.pro.enrollmentKey -}}
{{- end -}}
{{- toYaml $d -}}
{{- end -}}

{{/* A kept value: from values, else from the live Secret, else new. */}}
{{- define "ws.keys" -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace (printf "%s-keys" (include "ws.fullname" .)) -}}
{{- $old := dict -}}
{{- if $live -}}{{- $old = $live.data | default dict -}}{{- end -}}
{{- $d := dict -}}
{{- $jwt := .Values.zenml.auth.jwtSecretKey -}}
{{- if not $jwt -}}{{- $jwt = (get $old "jwt-secret-key" | b64dec) -}}{{- end -}}
{{- if not $jwt -}}{{- $jwt = randAlphaNum 64 | sha256sum -}}{{- end -}}
{{- $_ := set $d "jwt-secret-key" $jwt -}}
{{- if and .Values.zenml.secretsStore.enabled (eq .Values.zenml.secretsStore.type "sql") -}}
{{- $key := .Values.zenml.secretsStore.sql.encryptionKey -}}
{{- if not $key -}}{{- $key = (get $old "encryption-key" | b64dec) -}}{{- end -}}
{{- if not $key -}}{{- $key = randAlphaNum 64 | sha256sum -}}{{- end -}}
{{- $_ := set $d "encryption-key" $key -}}
{{- end -}}
{{- toYaml $d -}}
{{- end -}}

{{- define "ws.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .name | quote }}
    key: {{ .key | quote }}
{{- end -}}

{{/*
The environment of the server and the migration Job. `secret` names the Secret that
holds the credentials: the release's own or the migration hook copy.
*/}}
{{- define "ws.env" -}}
{{- $ := .root -}}
{{- $z := $.Values.zenml -}}
{{- $full := include "ws.fullname" $ -}}
{{- $cred := .secret -}}
{{- $env := list -}}
{{- $env = append $env (dict "name" "ENCLAVE_LISTEN" "value" ":8080") -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATA_DIR" "value" "/data") -}}
{{- with include "ws.serverURL" $ -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_URL" "value" .) -}}
{{- end -}}
{{- $mode := include "ws.dbMode" $ -}}
{{- if eq $mode "url" -}}
{{- $env = append $env (dict "name" "ZENML_STORE_URL" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "store-url"))) -}}
{{- else if eq $mode "external" -}}
{{- $ext := $z.database.external -}}
{{- $url := printf "%s://%s:%s/%s" $ext.type $ext.host (include "ws.dbPort" $) $ext.database -}}
{{- if $ext.username -}}{{- $url = printf "%s://%s@%s:%s/%s" $ext.type (urlquery $ext.username) $ext.host (include "ws.dbPort" $) $ext.database -}}{{- end -}}
{{- $env = append $env (dict "name" "ZENML_STORE_URL" "value" $url) -}}
{{- if $ext.username -}}
{{- $env = append $env (dict "name" "ZENML_STORE_USERNAME" "value" $ext.username) -}}
{{- end -}}
{{- if $ext.existingSecret -}}
{{- $env = append $env (dict "name" "ZENML_STORE_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $ext.existingSecret "key" $ext.existingSecretPasswordKey))) -}}
{{- else if $ext.password -}}
{{- $env = append $env (dict "name" "ZENML_STORE_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "store-password"))) -}}
{{- end -}}
{{- else -}}
{{- $env = append $env (dict "name" "ZENML_STORE_URL" "value" "sqlite:////data/zenml.db") -}}
{{- end -}}
{{- $env = append $env (dict "name" "ZENML_STORE_POOL_SIZE" "value" (toString $z.database.poolSize)) -}}
{{- $env = append $env (dict "name" "ZENML_STORE_MAX_OVERFLOW" "value" (toString $z.database.maxOverflow)) -}}
{{- $env = append $env (dict "name" "ZENML_STORE_BACKUP_STRATEGY" "value" $z.database.backupStrategy) -}}
{{- $env = append $env (dict "name" "ZENML_ANALYTICS_OPT_IN" "value" (toString $z.analyticsOptIn)) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_THREAD_POOL_SIZE" "value" (toString $z.threadPoolSize)) -}}
{{- if .server -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_JWT_SECRET_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" (printf "%s-keys" $full) "key" "jwt-secret-key"))) -}}
{{- end -}}
{{- if $z.secretsStore.enabled -}}
{{- $env = append $env (dict "name" "ZENML_SECRETS_STORE_TYPE" "value" $z.secretsStore.type) -}}
{{- if and .server (eq $z.secretsStore.type "sql") -}}
{{- $env = append $env (dict "name" "ZENML_SECRETS_STORE_ENCRYPTION_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" (printf "%s-keys" $full) "key" "encryption-key"))) -}}
{{- end -}}
{{- else -}}
{{- $env = append $env (dict "name" "ZENML_SECRETS_STORE_TYPE" "value" "none") -}}
{{- end -}}
{{- if $z.pro.enabled -}}
{{- $p := $z.pro -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_DEPLOYMENT_TYPE" "value" "cloud") -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_API_URL" "value" $p.apiURL) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_DASHBOARD_URL" "value" $p.dashboardURL) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_OAUTH2_AUDIENCE" "value" (default $p.apiURL $p.oauth2Audience)) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_ORGANIZATION_ID" "value" (toString $p.organizationID)) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_ORGANIZATION_NAME" "value" (toString $p.organizationName)) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_WORKSPACE_ID" "value" (toString $p.workspaceID)) -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_WORKSPACE_NAME" "value" (toString $p.workspaceName)) -}}
{{- if .server -}}
{{- if $p.existingSecret -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET" "valueFrom" (dict "secretKeyRef" (dict "name" $p.existingSecret "key" $p.existingSecretKey))) -}}
{{- else if $p.enrollmentKey -}}
{{- $env = append $env (dict "name" "ZENML_SERVER_PRO_OAUTH2_CLIENT_SECRET" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "enrollment-key"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if include "ws.caEnabled" $ -}}
{{- $env = append $env (dict "name" "SSL_CERT_FILE" "value" "/etc/enclave/ca/ca.crt") -}}
{{- end -}}
{{- if and .server (include "ws.workloadManager" $) -}}
{{- /* The workload manager's runner pods run the server's own image unless ZENML_KUBERNETES_WORKLOAD_MANAGER_RUNNER_IMAGE says otherwise. */ -}}
{{- $env = append $env (dict "name" "ENCLAVE_IMAGE" "value" (include "ws.image" $)) -}}
{{- end -}}
{{- $px := $.Values.proxy -}}
{{- if $px.httpProxy -}}{{- $env = append $env (dict "name" "HTTP_PROXY" "value" $px.httpProxy) -}}{{- end -}}
{{- if $px.httpsProxy -}}{{- $env = append $env (dict "name" "HTTPS_PROXY" "value" $px.httpsProxy) -}}{{- end -}}
{{- if or $px.httpProxy $px.httpsProxy $px.noProxy -}}
{{- $env = append $env (dict "name" "NO_PROXY" "value" (default (printf "localhost,127.0.0.1,.svc,.svc.cluster.local,%s" $full) $px.noProxy)) -}}
{{- end -}}
{{- $extra := $z.environment | default dict -}}
{{- $out := list -}}
{{- range $env -}}
{{- if not (hasKey $extra .name) -}}{{- $out = append $out . -}}{{- end -}}
{{- end -}}
{{- range $k := keys $extra | sortAlpha -}}
{{- $out = append $out (dict "name" $k "value" (get $extra $k | toString)) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Volumes every pod of the chart mounts; the root filesystem is read-only. */}}
{{- define "ws.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if include "ws.caEnabled" . }}
- name: ca
  mountPath: /etc/enclave/ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ws.caVolume" -}}
{{- $ca := .Values.caCertificates -}}
{{- if $ca.secret }}
- name: ca
  secret:
    secretName: {{ $ca.secret | quote }}
    items:
      - key: {{ $ca.key | quote }}
        path: ca.crt
{{- else if or $ca.configMap $ca.pem }}
- name: ca
  configMap:
    name: {{ default (printf "%s-ca" (include "ws.fullname" .)) $ca.configMap | quote }}
    items:
      - key: {{ ternary $ca.key "ca.crt" (not $ca.pem) | quote }}
        path: ca.crt
{{- end }}
{{- end -}}
