package workspace

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/enclave-mlops/enclave/client"
	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// Runs and steps are the answers a workspace server sends most, and a page
// of 50 runs is its largest frequent one: encoding/json spent over a third
// of a list's CPU on them, in reflection and in checking what each Time
// wrote. The functions here write the same bytes as encoding/json (HTML
// characters left as they are, as httpapi.WriteJSON does) by walking the
// wire types directly; TestHandEncodedJSON fills every field of those
// types, through reflection, and compares, so a field added to them and not
// here fails it.

// writeAppended answers with what appendTo writes, and a newline.
func writeAppended(w http.ResponseWriter, appendTo func([]byte) []byte) {
	bp := jsonBufs.Get().(*[]byte)
	b := append(appendTo((*bp)[:0]), '\n')
	httpapi.WriteJSONBytes(w, http.StatusOK, b)
	if cap(b) <= maxPooledJSON {
		*bp = b
		jsonBufs.Put(bp)
	}
}

var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8192); return &b }}

// maxPooledJSON bounds the buffers kept for the next answer: a page of
// thousands of runs is not kept after it is sent.
const maxPooledJSON = 256 << 10

// appendPage appends a page, each of its items by appendItem.
func appendPage[T any](b []byte, p *client.Page[T], appendItem func([]byte, *T) []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(p.Index), 10)
	b = append(b, `,"max_size":`...)
	b = strconv.AppendInt(b, int64(p.MaxSize), 10)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendInt(b, int64(p.TotalPages), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, p.Total, 10)
	b = append(b, `,"items":`...)
	if p.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range p.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendItem(b, &p.Items[i])
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendRun(b []byte, r *client.Run) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, r.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, r.Name)
	rb := &r.Body
	b = append(b, `,"body":{"created":`...)
	b = rb.Created.AppendJSON(b)
	b = append(b, `,"updated":`...)
	b = rb.Updated.AppendJSON(b)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, rb.UserID)
	b = append(b, `,"project_id":`...)
	b = appendJSONString(b, rb.ProjectID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, rb.Status)
	b = append(b, `,"in_progress":`...)
	b = strconv.AppendBool(b, rb.InProgress)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, rb.Index, 10)
	b = append(b, `,"pipeline_id":`...)
	b = appendJSONStringPtr(b, rb.PipelineID)
	b = append(b, `,"snapshot_id":`...)
	b = appendJSONString(b, rb.SnapshotID)
	b = append(b, `,"stack_id":`...)
	b = appendJSONStringPtr(b, rb.StackID)
	b = append(b, `,"start_time":`...)
	b = appendTimePtr(b, rb.StartTime)
	b = append(b, `,"end_time":`...)
	b = appendTimePtr(b, rb.EndTime)
	b = append(b, `,"orchestrator_run_id":`...)
	b = appendJSONStringPtr(b, rb.OrchestratorRunID)
	b = append(b, `},"metadata":`...)
	if r.Metadata == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"run_metadata":`...)
		b = appendEncoded(b, r.Metadata.RunMetadata)
		b = append(b, '}')
	}
	b = append(b, `,"resources":`...)
	if r.Resources == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"tags":`...)
		b = appendTagRefs(b, r.Resources.Tags)
		b = append(b, '}')
	}
	b = append(b, `,"permission_denied":`...)
	b = strconv.AppendBool(b, r.PermissionDenied)
	return append(b, '}')
}

func appendTagRefs(b []byte, tags []client.TagRef) []byte {
	if tags == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, tags[i].ID)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, tags[i].Name)
		b = append(b, `,"color":`...)
		b = appendJSONString(b, tags[i].Color)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendTimePtr(b []byte, t *client.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return t.AppendJSON(b)
}

func appendJSONStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *s)
}

// appendJSONString appends s as a JSON string. Printable ASCII other than
// a quote or a backslash is written as it is, which is what ids, names,
// statuses and colours almost always are; anything else goes through
// encoding/json, so that escapes and invalid UTF-8 come out as it writes
// them.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return appendEncoded(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendEncoded appends v as httpapi.WriteJSON writes it, without its
// newline.
func appendEncoded(b []byte, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Strings and run metadata, which the store decoded from JSON
		// text, always encode; null would keep the document whole.
		return append(b, "null"...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}

func appendStep(b []byte, st *client.Step) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, st.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, st.Name)
	sb := &st.Body
	b = append(b, `,"body":{"created":`...)
	b = sb.Created.AppendJSON(b)
	b = append(b, `,"updated":`...)
	b = sb.Updated.AppendJSON(b)
	b = append(b, `,"user_id":`...)
	b = appendJSONString(b, sb.UserID)
	b = append(b, `,"project_id":`...)
	b = appendJSONString(b, sb.ProjectID)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, sb.Status)
	b = append(b, `,"start_time":`...)
	b = appendTimePtr(b, sb.StartTime)
	b = append(b, `,"end_time":`...)
	b = appendTimePtr(b, sb.EndTime)
	b = append(b, `,"inputs":`...)
	b = appendLinks(b, sb.Inputs)
	b = append(b, `,"outputs":`...)
	b = appendLinks(b, sb.Outputs)
	b = append(b, `},"metadata":`...)
	if m := st.Metadata; m == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"pipeline_run_id":`...)
		b = appendJSONString(b, m.PipelineRunID)
		b = append(b, `,"config":`...)
		b = appendRaw(b, m.Config)
		b = append(b, `,"spec":`...)
		b = appendRaw(b, m.Spec)
		b = append(b, `,"cache_key":`...)
		b = appendJSONString(b, m.CacheKey)
		b = append(b, `,"code_hash":`...)
		b = appendJSONString(b, m.CodeHash)
		b = append(b, `,"parent_step_ids":`...)
		b = appendStrings(b, m.ParentStepIDs)
		b = append(b, `,"logs_uri":`...)
		b = appendJSONString(b, m.LogsURI)
		b = append(b, `,"run_metadata":`...)
		b = appendEncoded(b, m.RunMetadata)
		b = append(b, '}')
	}
	b = append(b, `,"resources":`...)
	if st.Resources == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, "{}"...)
	}
	b = append(b, `,"permission_denied":`...)
	b = strconv.AppendBool(b, st.PermissionDenied)
	return append(b, '}')
}

// appendLinks appends a step's inputs or outputs: names, sorted, and their
// artifact versions.
func appendLinks(b []byte, m map[string][]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendStrings(b, m[k])
	}
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendRaw appends JSON text as encoding/json writes a json.RawMessage:
// null when there is none, compacted otherwise.
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	buf := bytes.NewBuffer(b)
	if err := json.Compact(buf, raw); err != nil {
		// The store keeps only what was read as JSON.
		return append(b, "null"...)
	}
	return buf.Bytes()
}
