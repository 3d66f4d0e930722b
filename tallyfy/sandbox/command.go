package sandbox

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Command serves only the demo Tallyfy REST API (the `tallyfy-mcp sandbox` subcommand) until
// ctx ends.
func Command(ctx context.Context, args []string, logger *slog.Logger, stderr io.Writer) error {
	var opts []Option
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	faults := fs.String("faults", "", "faults to inject")
	var limit RateLimit
	fs.Func("rate-limit", "refuse a token's requests beyond N a second", func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want requests per second per token, a number ≥ 0 (0 = no limit), not %q", v)
		}
		limit.PerSecond = f
		return nil
	})
	duration := func(name, usage string, to *time.Duration, least time.Duration, want string) {
		fs.Func(name, usage, func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < least {
				return fmt.Errorf("want %s, not %q", want, v)
			}
			*to = d
			return nil
		})
	}
	duration("rate-window", "the rolling window --rate-limit counts over", &limit.Window, 1, "a duration above 0 such as 1s or 1m")
	var latency time.Duration
	duration("latency", "delay every answer by this duration", &latency, 0, "a duration such as 50ms")
	listVariants := false
	fs.Func("variant", "comma-separated behaviours switched off the defaults (tallyfy-mcp sandbox --variant help lists them)", func(v string) error {
		if strings.TrimSpace(v) == "help" {
			listVariants = true
			return nil
		}
		vs, err := ParseVariants(v)
		if err == nil {
			opts = append(opts, WithVariants(vs...))
		}
		return err
	})
	fs.Func("broken-shape", "serve a field in an undocumented JSON type", func(v string) error {
		b, err := ParseBrokenShape(v)
		if err == nil {
			opts = append(opts, WithBrokenShape(b))
		}
		return err
	})
	fs.Usage = func() {
		_, _ = fmt.Fprintf(stderr, "tallyfy-mcp sandbox [--addr %s] [--rate-limit N [--rate-window 1s]] [--latency D] [--faults SPEC] [--broken-shape kind.field[=type]] [--variant a,b]\n  Serves the demo Tallyfy REST API. Org %s, admin token %q, Standard member token %q (no rights on the template %s), Light member token %q.\n  --variant switches behaviours no Tallyfy source settles off the defaults (--variant help lists them).\n  --rate-limit N refuses a token's requests beyond N a second, counted over a rolling --rate-window (default 1s; Tallyfy's is 1m), with 429, Retry-After and X-RateLimit-Limit/Remaining/Reset, as Tallyfy does.\n  --latency D delays every answer by D (e.g. 50ms), like a real round trip.\n  SPEC: comma-separated kind[=param][@probability][#times][:METHOD][~path], kinds latency, 429, 500, 502, 503, 504, reset-before, reset-after, truncated, html, oversized, hang.\n  --broken-shape serves a field in an undocumented JSON type (array by default), e.g. run.progress or organization.user_role=object, to try tallyfy-mcp check; kinds task, run, template, me (GET /me), organization (GET /me/organizations).\n",
			"127.0.0.1:8081", OrgID, AdminToken, MemberToken, IDs.RestrictedTemplate, LightToken)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("sandbox: %w (see tallyfy-mcp sandbox --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sandbox: unknown argument %q (see tallyfy-mcp sandbox --help)", fs.Arg(0))
	}
	if listVariants {
		printVariants(stderr)
		return nil
	}
	if limit.Window > 0 && limit.PerSecond == 0 {
		return errors.New("sandbox: --rate-window needs --rate-limit")
	}
	opts = append(opts, WithRateLimit(limit), WithLatency(latency))
	sb := New(opts...)
	if *faults != "" {
		rules, err := ParseFaults(*faults)
		if err != nil {
			return err
		}
		sb.SetFaults(rules...)
	}
	url, srv, err := Listen(*addr, sb)
	if err != nil {
		return err
	}
	attrs := []any{"url", url, "org", OrgID, "admin_token", AdminToken, "member_token", MemberToken}
	if limit.PerSecond > 0 {
		attrs = append(attrs, "rate_limit", fmt.Sprintf("%d per %s per token", limit.Limit(), limit.window()))
	}
	if latency > 0 {
		attrs = append(attrs, "latency", latency)
	}
	if vs := sb.Variants(); len(vs) > 0 {
		attrs = append(attrs, "variants", vs)
	}
	logger.Info("sandbox: serving the demo Tallyfy REST API", attrs...)
	<-ctx.Done()
	// The totals let a run prove its pacing: a paced client is never refused.
	logger.Info("sandbox: stopped", "requests", sb.Requests(), "rate_limited", sb.RateLimited())
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// printVariants lists the sandbox variants with what they switch and their sources.
func printVariants(w io.Writer) {
	for _, in := range AllVariants() {
		rewrite := ""
		if in.Rewrite {
			rewrite = " (weaker evidence: the docs' 2026-03-01 rewrite)"
		}
		_, _ = fmt.Fprintf(w, "%s\n    %s\n    sources: %s%s\n", in.Variant, in.Description, in.Sources, rewrite)
	}
}
