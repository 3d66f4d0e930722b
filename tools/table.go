package tools

import (
	"slices"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Tier groups tools by what they can do; policy flags switch tiers off.
type Tier string

// The tiers, from harmless to irreversible.
const (
	TierRead      Tier = "read"      // look up only
	TierLifecycle Tier = "lifecycle" // archive and restore: reversible
	TierPermanent Tier = "permanent" // permanent delete: irreversible
)

// Verb is what a tool does to its resource.
type Verb string

// The verbs every kind has.
const (
	VerbGet     Verb = "get"
	VerbList    Verb = "list"
	VerbArchive Verb = "archive"
	VerbRestore Verb = "restore" // activate for runs
	VerbDelete  Verb = "delete"
)

// Hints are the MCP tool annotations; every tool sets all four (mcp-go's defaults claim
// destructive and open-world).
type Hints struct{ ReadOnly, Destructive, Idempotent, OpenWorld bool }

var (
	readHints      = Hints{ReadOnly: true, Destructive: false, Idempotent: true, OpenWorld: true}
	archiveHints   = Hints{ReadOnly: false, Destructive: true, Idempotent: true, OpenWorld: true}
	restoreHints   = Hints{ReadOnly: false, Destructive: false, Idempotent: true, OpenWorld: true}
	permanentHints = Hints{ReadOnly: false, Destructive: true, Idempotent: false, OpenWorld: true}
)

// Tool is one row of the table.
type Tool struct {
	Name        string
	Title       string
	Tier        Tier
	Kind        tallyfy.Kind
	Verb        Verb
	Hints       Hints
	Args        any // zero value of the argument type; its schema is the inputSchema
	Result      any // zero value of the result type; its schema is the outputSchema
	Description string
	// Bulk tools act on many items of the kind named by their type argument (Kind is "").
	Bulk bool
	// AppOnly tools are called by the MCP App view, never offered to the model (app.go).
	AppOnly bool
}

// Reversible reports whether the tool's effect can be undone by another tool.
func (t Tool) Reversible() bool { return t.Tier != TierPermanent }

// All is every tool tallyfy-mcp serves (tools/list sorts them by name).
var All = []Tool{
	{Name: "list_tasks", Title: "List one-off tasks", Tier: TierRead, Kind: tallyfy.KindTask, Verb: VerbList, Hints: readHints,
		Args: schemas.ListArgs{}, Result: schemas.ListTasksResult{},
		Description: "Find one-off tasks (not tasks inside a process) by title, to get a task_id."},
	{Name: "list_runs", Title: "List processes", Tier: TierRead, Kind: tallyfy.KindRun, Verb: VerbList, Hints: readHints,
		Args: schemas.ListRunsArgs{}, Result: schemas.ListRunsResult{},
		Description: "Find processes (runs) by name, status or template, to get a run_id."},
	{Name: "list_templates", Title: "List templates", Tier: TierRead, Kind: tallyfy.KindTemplate, Verb: VerbList, Hints: readHints,
		Args: schemas.ListArgs{}, Result: schemas.ListTemplatesResult{},
		Description: "Find templates (blueprints) by title, to get a template_id."},
	{Name: "get_task", Title: "Get one-off task", Tier: TierRead, Kind: tallyfy.KindTask, Verb: VerbGet, Hints: readHints,
		Args: schemas.TaskIDArgs{}, Result: schemas.GetTaskResult{},
		Description: "Show one task, archived or not: title, status, whether it is one-off."},
	{Name: "get_run", Title: "Get process", Tier: TierRead, Kind: tallyfy.KindRun, Verb: VerbGet, Hints: readHints,
		Args: schemas.RunIDArgs{}, Result: schemas.GetRunResult{},
		Description: "Show one process (run), archived or not: name, status, progress, template."},
	{Name: "get_template", Title: "Get template", Tier: TierRead, Kind: tallyfy.KindTemplate, Verb: VerbGet, Hints: readHints,
		Args: schemas.TemplateIDArgs{}, Result: schemas.GetTemplateResult{},
		Description: "Show one template, archived or not: title, status, steps."},
	{Name: "archive_task", Title: "Archive one-off task", Tier: TierLifecycle, Kind: tallyfy.KindTask, Verb: VerbArchive, Hints: archiveHints,
		Args: schemas.TaskIDArgs{}, Result: schemas.LifecycleResult{},
		Description: "Archive a one-off task: hidden from views, data kept, undo with restore_task. Tasks inside a process are archived with archive_run."},
	{Name: "restore_task", Title: "Restore one-off task", Tier: TierLifecycle, Kind: tallyfy.KindTask, Verb: VerbRestore, Hints: restoreHints,
		Args: schemas.TaskIDArgs{}, Result: schemas.LifecycleResult{},
		Description: "Bring back an archived one-off task. Undo with archive_task."},
	{Name: "archive_run", Title: "Archive process", Tier: TierLifecycle, Kind: tallyfy.KindRun, Verb: VerbArchive, Hints: archiveHints,
		Args: schemas.RunIDArgs{}, Result: schemas.LifecycleResult{},
		Description: "Archive a process and its tasks: hidden, data kept, undo with activate_run."},
	{Name: "activate_run", Title: "Restore process", Tier: TierLifecycle, Kind: tallyfy.KindRun, Verb: VerbRestore, Hints: restoreHints,
		Args: schemas.RunIDArgs{}, Result: schemas.LifecycleResult{},
		Description: "Bring back an archived process with its tasks and its earlier status. Undo with archive_run."},
	{Name: "archive_template", Title: "Archive template", Tier: TierLifecycle, Kind: tallyfy.KindTemplate, Verb: VerbArchive, Hints: archiveHints,
		Args: schemas.TemplateIDArgs{}, Result: schemas.ArchiveTemplateResult{},
		Description: "Archive a template: no new launches, running processes go on; restore_template undoes it, maybe not what it detached."},
	{Name: "restore_template", Title: "Restore template", Tier: TierLifecycle, Kind: tallyfy.KindTemplate, Verb: VerbRestore, Hints: restoreHints,
		Args: schemas.TemplateIDArgs{}, Result: schemas.LifecycleResult{},
		Description: "Bring back an archived template. Undo with archive_template."},
	{Name: "delete_task", Title: "Permanently delete one-off task", Tier: TierPermanent, Kind: tallyfy.KindTask, Verb: VerbDelete, Hints: permanentHints,
		Args: schemas.DeleteTaskArgs{}, Result: schemas.DeleteResult{},
		Description: "Destroy an archived one-off task for good. Cannot be undone; the person must confirm. Archive first with archive_task."},
	{Name: "delete_run", Title: "Permanently delete process", Tier: TierPermanent, Kind: tallyfy.KindRun, Verb: VerbDelete, Hints: permanentHints,
		Args: schemas.DeleteRunArgs{}, Result: schemas.DeleteResult{},
		Description: "Destroy an archived process and all its tasks, comments and files for good. Cannot be undone; the person must confirm; needs a Tallyfy admin. Archive first with archive_run."},
	{Name: "delete_template", Title: "Permanently delete template", Tier: TierPermanent, Kind: tallyfy.KindTemplate, Verb: VerbDelete, Hints: permanentHints,
		Args: schemas.DeleteTemplateArgs{}, Result: schemas.DeleteResult{},
		Description: "Destroy an archived template for good. Cannot be undone; the person must confirm; needs a Tallyfy admin. Archive first with archive_template."},
	{Name: "bulk_archive", Title: "Archive many", Tier: TierLifecycle, Verb: VerbArchive, Hints: archiveHints, Bulk: true,
		Args: schemas.BulkArgs{}, Result: schemas.BulkResult{},
		Description: "Archive up to 100 items. First call plans; execute with its plan_token. Undo: bulk_restore."},
	{Name: "bulk_restore", Title: "Restore many", Tier: TierLifecycle, Verb: VerbRestore, Hints: restoreHints, Bulk: true,
		Args: schemas.BulkArgs{}, Result: schemas.BulkResult{},
		Description: "Restore up to 100 archived items. First call plans; execute with its plan_token. Undo: bulk_archive."},
	{Name: "bulk_delete", Title: "Permanently delete many", Tier: TierPermanent, Verb: VerbDelete, Hints: permanentHints, Bulk: true,
		Args: schemas.BulkArgs{}, Result: schemas.BulkResult{},
		Description: "Destroy up to 100 archived items for good. First call plans: show it to the person, who confirms the execute call once."},
}

// ByName finds a tool of the table.
func ByName(name string) (Tool, bool) { return byName(All, name) }

// byName finds a tool of tools by its name.
func byName(tools []Tool, name string) (Tool, bool) {
	if i := slices.IndexFunc(tools, func(t Tool) bool { return t.Name == name }); i >= 0 {
		return tools[i], true
	}
	return Tool{}, false
}

// Names lists every tool name in table order.
func Names() []string {
	names := make([]string, len(All))
	for i, t := range All {
		names[i] = t.Name
	}
	return names
}

// toolFor finds the tool of a kind and verb (each pair has exactly one).
func toolFor(kind tallyfy.Kind, verb Verb) Tool {
	for _, t := range All {
		if t.Kind == kind && t.Verb == verb {
			return t
		}
	}
	panic("tools: no tool for " + string(kind) + "/" + string(verb))
}
