package policies

import (
	"context"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// CatNotifications is the category of the Art. 19 outbox's notifications,
// decided by data.oubli.notifications.decisions (notifications.rego), with
// the facts status, created_at, delivered_at and acked_at.
const CatNotifications = "notifications"

const queryNotifications = "data.oubli.notifications.decisions"

// HasNotificationRules reports whether the policies hold the package
// oubli.notifications (a --policies directory written before it may not):
// without it no notification is ever decided, so none is deleted.
func (e *Engine) HasNotificationRules() bool {
	want := ast.MustParseRef("data.oubli.notifications")
	for _, m := range e.modules {
		if m.Package != nil && m.Package.Path.Equal(want) {
			return true
		}
	}
	return false
}

// DecideNotifications returns, for each notification record, Keep or
// Delete with the rule and the reason, as Decide does for the retention
// categories (one decision per record, or an error wrapping ErrPolicy).
func (e *Engine) DecideNotifications(ctx context.Context, at time.Time, recs []Record) ([]Decision, error) {
	q, err := rego.New(
		rego.Query(queryNotifications),
		rego.Compiler(e.compiler),
		rego.Capabilities(e.caps),
		rego.Strict(true),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: prepare %s: %v", ErrPolicy, queryNotifications, err)
	}
	ds, err := e.decide(ctx, q, "notification", at, recs)
	if err != nil {
		return nil, err
	}
	for i, d := range ds {
		if d.Action == Anonymize {
			return nil, fmt.Errorf("%w: notification %s: rule %s decided anonymize, which a notification does not support", ErrPolicy, recs[i].ID, d.Rule)
		}
	}
	return ds, nil
}
