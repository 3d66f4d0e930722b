package sandbox

import (
	"net/http"
	"strings"
)

// ---------------------------------------------------------------------------
// Templates (docs/tallyfy-api.md §1.7–§1.9, §2.5, §2.6).

func (s *Sandbox) listTemplates(r *http.Request, _ string) response {
	q := r.URL.Query()
	mode := parseArchivedParam(q.Get("archived"))
	search := strings.TrimSpace(q.Get("q"))

	s.mu.Lock()
	items := listed(s.listState().templates, func(t *template) bool {
		return keep(mode, t.archived()) && (search == "" || containsFold(t.Title, search))
	}, templateOrder, (*template).listJSON)
	s.mu.Unlock()
	return s.listPage(r, kindTemplate, items)
}

func (s *Sandbox) getTemplate(_ *http.Request, id string) response {
	t, ok := s.st.templates[id]
	if !ok || t.archived() { // documented: an archived template is 404 (§2.5)
		return resourceNotFound()
	}
	return itemAnswer(t.json())
}

func (s *Sandbox) archiveTemplate(_ *http.Request, id string) response {
	t, ok := s.st.templates[id]
	if !ok || (t.archived() && !s.has(VariantArchiveArchived200)) {
		return resourceNotFound()
	}
	var detached any = map[string]any{}
	if !t.archived() {
		ts := s.changing()
		t.ArchivedAt, t.LastUpdated = ts, ts
		if refs := embedsOf(id); len(refs) > 0 {
			detached = refs
		}
	}
	return jsonResponse(http.StatusOK, messageBody{
		Message:           "The Template was deleted, and references were also deleted from:",
		DeletedReferences: detached,
	})
}

func (s *Sandbox) restoreTemplate(_ *http.Request, id string) response {
	t, ok := s.st.templates[id]
	if ok && !t.archived() && s.has(VariantRestoreLive200) {
		return itemAnswer(t.json())
	}
	t, refusal := archivedOf(s.st.templates, id, templateNotArchivedRestoreMessage)
	if refusal != nil {
		return *refusal
	}
	t.ArchivedAt, t.LastUpdated = "", s.changing()
	return itemAnswer(t.json())
}

func (s *Sandbox) deleteTemplate(_ *http.Request, id string) response {
	if _, refusal := archivedOf(s.st.templates, id, templateNotArchivedDeleteMessage); refusal != nil {
		return *refusal
	}
	s.changing()
	delete(s.st.templates, id)
	return jsonResponse(http.StatusOK, messageBody{
		Message:           "The Template was permanently deleted, and references were also deleted from:",
		DeletedReferences: map[string]any{},
	})
}
