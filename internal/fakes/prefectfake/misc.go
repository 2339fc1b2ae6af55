package prefectfake

import (
	"net/http"
	"strings"
)

func (s *Server) health(*call) *reply { return jsonReply(http.StatusOK, true) }
func (s *Server) ready(*call) *reply {
	return jsonReply(http.StatusOK, map[string]any{"message": "OK"})
}
func (s *Server) hello(*call) *reply   { return jsonReply(http.StatusOK, "👋") }
func (s *Server) version(*call) *reply { return jsonReply(http.StatusOK, APIVersion) }
func (s *Server) adminVersion(*call) *reply {
	return jsonReply(http.StatusOK, s.opts.ServerVersion)
}

// csrfToken issues (or renews) the token of a client.
func (s *Server) csrfToken(c *call) *reply {
	if !s.opts.CSRF {
		return detail(http.StatusUnprocessableEntity, "CSRF protection is disabled.")
	}
	client, _ := c.query("client")
	now := s.now()
	t := s.st.csrf[client]
	if t == nil {
		t = &csrfToken{ID: s.newID(), Client: client, Created: now}
		s.st.csrf[client] = t
	}
	t.Token = strings.ReplaceAll(s.newID()+s.newID(), "-", "")
	t.Expiration = now.Add(s.opts.CSRFTokenTTL)
	t.Updated = now
	return jsonReply(http.StatusOK, map[string]any{
		"id": t.ID, "created": fmtTime(t.Created), "updated": fmtTime(t.Updated),
		"token": t.Token, "client": t.Client, "expiration": fmtTime(t.Expiration),
	})
}

func (s *Server) createLogs(c *call) *reply {
	arr, _ := c.body.([]any)
	for _, e := range arr {
		m, _ := plain(e).(map[string]any)
		s.st.logs = append(s.st.logs, m)
	}
	return jsonReply(http.StatusCreated, nil)
}

func (s *Server) createEvents(c *call) *reply {
	arr, _ := c.body.([]any)
	for _, e := range arr {
		m, _ := plain(e).(map[string]any)
		s.recordEvent(m)
	}
	return noContent()
}

// secretFieldsBySlug are the secret fields of block types a worker meets,
// hidden unless include_secrets=true.
var secretFieldsBySlug = map[string][]string{
	"secret":          {"value"},
	"aws-credentials": {"aws_secret_access_key", "aws_session_token"},
}

const obfuscated = "********"

func (s *Server) blockAPI(b *blockDocument, includeSecrets bool) map[string]any {
	bt := s.st.blockTypes[b.Slug]
	data := map[string]any{}
	for k, v := range b.Data {
		data[k] = v
	}
	if !includeSecrets {
		for _, path := range b.Secret {
			hideField(data, strings.Split(path, "."))
		}
	}
	btAPI := map[string]any{
		"id": bt.ID, "created": fmtTime(bt.Created), "updated": fmtTime(bt.Created),
		"name": bt.Name, "slug": bt.Slug, "logo_url": nil, "documentation_url": nil,
		"description": nil, "code_example": nil, "is_protected": false,
	}
	fields := map[string]any{"secret_fields": b.Secret}
	return map[string]any{
		"id":              b.ID,
		"created":         fmtTime(b.Created),
		"updated":         fmtTime(b.Updated),
		"name":            b.Name,
		"data":            data,
		"block_schema_id": bt.SchemaID,
		"block_schema": map[string]any{
			"id": bt.SchemaID, "created": fmtTime(bt.Created), "updated": fmtTime(bt.Created),
			"checksum": "sha256:" + strings.ReplaceAll(bt.SchemaID, "-", ""), "fields": fields,
			"block_type_id": bt.ID, "block_type": btAPI, "capabilities": []any{}, "version": "non-versioned",
		},
		"block_type_id":             bt.ID,
		"block_type_name":           bt.Name,
		"block_type":                btAPI,
		"block_document_references": map[string]any{},
		"is_anonymous":              false,
	}
}

// hideField replaces a (possibly nested) value with the obfuscation mask,
// copying maps on the way so the stored document is untouched.
func hideField(m map[string]any, path []string) {
	if len(path) == 0 {
		return
	}
	v, ok := m[path[0]]
	if !ok {
		return
	}
	if len(path) == 1 {
		m[path[0]] = obfuscated
		return
	}
	if sub, ok := v.(map[string]any); ok {
		cp := copyMap(sub)
		m[path[0]] = cp
		hideField(cp, path[1:])
	}
}

func (s *Server) includeSecrets(c *call) bool {
	v, _ := c.query("include_secrets")
	b, _ := paramValue(param{Type: "boolean"}, v).(bool)
	return b
}

func (s *Server) readBlockDocument(c *call) *reply {
	id, _ := canonicalUUID(c.params["id"])
	b := s.st.blocks[id]
	if b == nil {
		return detail(http.StatusNotFound, "Block document not found")
	}
	return jsonReply(http.StatusOK, s.blockAPI(b, s.includeSecrets(c)))
}

func (s *Server) readBlockDocumentByName(c *call) *reply {
	slug, name := c.params["slug"], c.params["block_document_name"]
	for _, b := range s.st.blocks {
		if b.Slug == slug && b.Name == name {
			return jsonReply(http.StatusOK, s.blockAPI(b, s.includeSecrets(c)))
		}
	}
	return detail(http.StatusNotFound, "Block document not found")
}

func (s *Server) readVariable(c *call) *reply {
	v := s.st.variables[c.params["name"]]
	if v == nil {
		return detail(http.StatusNotFound, "Variable not found.")
	}
	return jsonReply(http.StatusOK, variableAPI(v))
}

func variableAPI(v *variable) map[string]any {
	return map[string]any{
		"id": v.ID, "created": fmtTime(v.Created), "updated": fmtTime(v.Updated),
		"name": v.Name, "value": rawOr(v.Value, "null"), "tags": tagsOf(v.Tags),
	}
}
