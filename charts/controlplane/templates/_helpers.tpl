{{/* Names and labels. */}}

{{- define "cp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name, so that the seed's `helm install zenml-pro` gives deployment/zenml-pro. */}}
{{- define "cp.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "cp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: enclave
{{- end -}}

{{- define "cp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cp.image" -}}
{{- $img := .Values.zenml.image.api -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Both lists of pull secrets, each name once. */}}
{{- define "cp.imagePullSecrets" -}}
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

{{- define "cp.resources" -}}
{{- if .Values.zenml.resources -}}
{{- toYaml .Values.zenml.resources -}}
{{- else -}}
{{- toYaml (.Values.resources | default dict) -}}
{{- end -}}
{{- end -}}

{{/* Which database: "url", "external" or "sqlite". */}}
{{- define "cp.dbMode" -}}
{{- if .Values.zenml.database.url -}}url
{{- else if .Values.zenml.database.external.host -}}external
{{- else -}}sqlite
{{- end -}}
{{- end -}}

{{- define "cp.migrationEnabled" -}}
{{- if and .Values.zenml.migration.enabled (ne (include "cp.dbMode" .) "sqlite") (not (hasPrefix "sqlite" .Values.zenml.database.url)) -}}true{{- end -}}
{{- end -}}

{{- define "cp.dbPort" -}}
{{- $ext := .Values.zenml.database.external -}}
{{- if $ext.port -}}{{ int $ext.port }}{{- else if eq $ext.type "mysql" -}}3306{{- else -}}5432{{- end -}}
{{- end -}}

{{- define "cp.serverURL" -}}
{{- if .Values.zenml.serverURL -}}
{{- .Values.zenml.serverURL -}}
{{- else if and .Values.zenml.ingress.enabled .Values.zenml.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.zenml.ingress.tls.enabled) .Values.zenml.ingress.host -}}
{{- end -}}
{{- end -}}

{{- define "cp.caEnabled" -}}
{{- $ca := .Values.caCertificates -}}
{{- if or $ca.configMap $ca.secret $ca.pem -}}true{{- end -}}
{{- end -}}

{{/*
Secrets. Three of them:
- <fullname>: what the values carry (database URL or password, admin password);
- <fullname>-keys: what the chart generates once and keeps (the admin password when
  none is given); `helm.sh/resource-policy: keep`, so a reinstall finds it again;
- <fullname>-migration: a hook copy of the database credentials, because the
  migration Job runs before the release's own objects exist.
*/}}
{{- define "cp.credentials" -}}
{{- $d := dict -}}
{{- $db := .Values.zenml.database -}}
{{- if $db.url -}}{{- $_ := set $d "database-url" $db.url -}}{{- end -}}
{{- if and (eq (include "cp.dbMode" .) "external") $db.external.password (not $db.external.existingSecret) -}}
{{- $_ := set $d "database-password" $db.external.password -}}
{{- end -}}
{{- if and .Values.zenml.auth.password (not .Values.zenml.auth.existingSecret) -}}
{{- $_ := set $d "admin-password" .Values.zenml.auth.password -}}
{{- end -}}
{{- toYaml $d -}}
{{- end -}}

{{/* A kept value: from the live Secret, else new. */}}
{{- define "cp.keys" -}}
{{- $live := lookup "v1" "Secret" .Release.Namespace (printf "%s-keys" (include "cp.fullname" .)) -}}
{{- $old := dict -}}
{{- if $live -}}{{- $old = $live.data | default dict -}}{{- end -}}
{{- $d := dict -}}
{{- $pw := get $old "admin-password" | b64dec -}}
{{- if not $pw -}}{{- $pw = randAlphaNum 24 -}}{{- end -}}
{{- $_ := set $d "admin-password" $pw -}}
{{- toYaml $d -}}
{{- end -}}

{{/*
The environment of the server and the migration Job. `secret` names the Secret that
holds the credentials: the release's own or the migration hook copy.
*/}}
{{- define "cp.env" -}}
{{- $ := .root -}}
{{- $z := $.Values.zenml -}}
{{- $full := include "cp.fullname" $ -}}
{{- $cred := .secret -}}
{{- $env := list -}}
{{- $env = append $env (dict "name" "ENCLAVE_LISTEN" "value" ":8080") -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATA_DIR" "value" "/data") -}}
{{- with include "cp.serverURL" $ -}}
{{- $env = append $env (dict "name" "ENCLAVE_SERVER_URL" "value" .) -}}
{{- end -}}
{{- $mode := include "cp.dbMode" $ -}}
{{- if eq $mode "url" -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_URL" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "database-url"))) -}}
{{- else if eq $mode "external" -}}
{{- $ext := $z.database.external -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_TYPE" "value" $ext.type) -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_HOST" "value" $ext.host) -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_PORT" "value" (include "cp.dbPort" $)) -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_USERNAME" "value" $ext.username) -}}
{{- if $ext.existingSecret -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $ext.existingSecret "key" $ext.existingSecretPasswordKey))) -}}
{{- else if $ext.password -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "database-password"))) -}}
{{- end -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_NAME" "value" $ext.database) -}}
{{- else -}}
{{- $env = append $env (dict "name" "ENCLAVE_DATABASE_URL" "value" "sqlite:////data/cp.db") -}}
{{- end -}}
{{- if .server -}}
{{- $a := $z.auth -}}
{{- $env = append $env (dict "name" "ENCLAVE_ADMIN_USERNAME" "value" $a.username) -}}
{{- if $a.existingSecret -}}
{{- $env = append $env (dict "name" "ENCLAVE_ADMIN_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $a.existingSecret "key" $a.existingSecretPasswordKey))) -}}
{{- else if $a.password -}}
{{- $env = append $env (dict "name" "ENCLAVE_ADMIN_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $cred "key" "admin-password"))) -}}
{{- else -}}
{{- $env = append $env (dict "name" "ENCLAVE_ADMIN_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" (printf "%s-keys" $full) "key" "admin-password"))) -}}
{{- end -}}
{{- end -}}
{{- if include "cp.caEnabled" $ -}}
{{- $env = append $env (dict "name" "SSL_CERT_FILE" "value" "/etc/enclave/ca/ca.crt") -}}
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
{{- define "cp.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if include "cp.caEnabled" . }}
- name: ca
  mountPath: /etc/enclave/ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cp.caVolume" -}}
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
    name: {{ default (printf "%s-ca" (include "cp.fullname" .)) $ca.configMap | quote }}
    items:
      - key: {{ ternary $ca.key "ca.crt" (not $ca.pem) | quote }}
        path: ca.crt
{{- end }}
{{- end -}}
