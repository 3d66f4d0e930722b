package tools

// Channel names how a permanent delete was really confirmed, strongest first (issue 21,
// README "Confirming what cannot be undone"). The audit record and the result carry it, so a
// reader can tell a person's click from a model calling twice.
type Channel string

const (
	// ChannelApp: the person pressed Delete in the MCP App view, through an app-only tool the
	// host never offers the model.
	ChannelApp Channel = "app"
	// ChannelElicitation: the client asked the person (form elicitation); proves the client answered.
	ChannelElicitation Channel = "elicitation"
	// ChannelApprovalPage: the person approved on the server's approval page.
	ChannelApprovalPage Channel = "approval_page"
	// ChannelToken: the model called twice with a confirm_token; the person may not have seen it.
	ChannelToken Channel = "token"
	// ChannelOff: confirmation is switched off (--confirm off), for unattended pipelines.
	ChannelOff Channel = "off"
)
