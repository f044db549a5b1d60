package cli

import (
	"os/user"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/oubli/oubli/notify"
	"github.com/oubli/oubli/store"
)

func init() { register(newNotifyCmd) }

// resolveActor settles who acts (--actor, OUBLI_ACTOR, "schedule" for the
// scheduler, else the OS user name) and puts it in e.Ctx, so that every audit
// entry of the command records it.
func (e *Env) resolveActor(cmd *cobra.Command) error {
	a := e.Actor
	if a == "" && cmd.Name() == "schedule" && cmd.Parent() != nil && cmd.Parent().Parent() == nil {
		a = "schedule"
	}
	if a == "" {
		if u, err := user.Current(); err == nil && u.Username != "" {
			a = u.Username
		} else if a = e.Getenv("USER"); a == "" {
			a = "unknown"
		}
	}
	if err := store.ValidActor(a); err != nil {
		return usageErrorf("--actor (or OUBLI_ACTOR): %v", err)
	}
	e.Actor = a
	e.Ctx = store.WithActor(e.Ctx, a)
	return nil
}

// recipientsConfig loads --recipients against the policies' recipient ids.
func (e *Env) recipientsConfig() (*notify.Config, []string, error) {
	eng, err := e.Engine()
	if err != nil {
		return nil, nil, err
	}
	rs, err := eng.Recipients(e.Ctx)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	cfg, err := notify.LoadConfig(e.RecipientsFile, ids)
	return cfg, ids, err
}

// Outbox returns the Art. 19 outbox: the policies' recipients and how each
// is told.
func (e *Env) Outbox() (*notify.Outbox, error) {
	eng, err := e.Engine()
	if err != nil {
		return nil, err
	}
	rs, err := eng.Recipients(e.Ctx)
	if err != nil {
		return nil, err
	}
	cfg, _, err := e.recipientsConfig()
	if err != nil {
		return nil, err
	}
	return &notify.Outbox{Recipients: rs, Config: cfg}, nil
}

// Deliverer returns the webhook deliverer, its secrets resolved from the
// environment (a missing variable is exit 2, naming it).
func (e *Env) Deliverer() (*notify.Deliverer, error) {
	db, err := e.Store()
	if err != nil {
		return nil, err
	}
	cfg, _, err := e.recipientsConfig()
	if err != nil {
		return nil, err
	}
	sec, err := cfg.Secrets(e.Getenv)
	if err != nil {
		return nil, err
	}
	return &notify.Deliverer{DB: db, Config: cfg, Secrets: sec, Now: e.Now, Log: e.Log, UserAgent: "oubli/" + Version}, nil
}

func printQueued(e *Env, qs []notify.Queued, dry bool) {
	if len(qs) == 0 {
		return
	}
	verb := "queued"
	if dry {
		verb = "would queue (dry run)"
	}
	e.Printf("  notifications to recipients (Art. 19), %s:\n", verb)
	for _, q := range qs {
		how := "webhook"
		if q.Status == store.NotifyManual {
			how = "manual: tell them, then oubli notify ack " + q.ID + " --note TEXT"
		}
		e.Printf("    - %s  %s (%s)\n", q.ID, q.Recipient, how)
	}
}

// notificationView is a notification as printed: no payload (it holds the
// user id and, for a rectification, the new values).
type notificationView struct {
	ID            string  `json:"id"`
	RequestID     string  `json:"request_id"`
	Recipient     string  `json:"recipient"`
	Type          string  `json:"type"`
	SubjectRef    string  `json:"subject_ref"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	CreatedAt     string  `json:"created_at"`
	NextAttemptAt *string `json:"next_attempt_at"`
	LastAttemptAt *string `json:"last_attempt_at"`
	DeliveredAt   *string `json:"delivered_at"`
	LastError     *string `json:"last_error"`
	AckNote       *string `json:"ack_note"`
	AckActor      *string `json:"ack_actor"`
	AckedAt       *string `json:"acked_at"`
	PayloadSHA256 string  `json:"payload_sha256"`
}

func viewNotification(n store.Notification) notificationView {
	t := func(ms int64, ok bool) *string {
		if !ok {
			return nil
		}
		s := store.FromMillis(ms).Format(time.RFC3339)
		return &s
	}
	s := func(v string, ok bool) *string {
		if !ok {
			return nil
		}
		return &v
	}
	return notificationView{ID: n.ID, RequestID: n.RequestID, Recipient: n.RecipientID, Type: n.Type, SubjectRef: n.SubjectRef,
		Status: n.Status, Attempts: n.Attempts, CreatedAt: reqTime(n.CreatedAt),
		NextAttemptAt: t(n.NextAttemptAt, n.Status == store.NotifyQueued),
		LastAttemptAt: t(n.LastAttemptAt.Int64, n.LastAttemptAt.Valid), DeliveredAt: t(n.DeliveredAt.Int64, n.DeliveredAt.Valid),
		LastError: s(n.LastError.String, n.LastError.Valid), AckNote: s(n.AckNote.String, n.AckNote.Valid),
		AckActor: s(n.AckActor.String, n.AckActor.Valid), AckedAt: t(n.AckedAt.Int64, n.AckedAt.Valid), PayloadSHA256: n.PayloadSHA256}
}

func (e *Env) printNotificationLine(v notificationView, indent string) {
	when := ""
	switch {
	case v.DeliveredAt != nil:
		when = "delivered " + *v.DeliveredAt
	case v.AckedAt != nil:
		when = "acknowledged " + *v.AckedAt + " by " + derefReq(v.AckActor)
	case v.NextAttemptAt != nil:
		when = "next attempt " + *v.NextAttemptAt
	}
	if v.LastError != nil && v.Status != store.NotifyDelivered {
		when += " (" + *v.LastError + ")"
	}
	e.Printf("%s%s  %-16s %-14s %-12s %-13s attempts %d  %s\n", indent, v.ID, v.Recipient, v.Type, v.Status, v.RequestID, v.Attempts, when)
}

func newNotifyCmd(e *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "notify",
		Short: "Notifications to the recipients of every rectification, erasure and objection (Art. 19)",
		Long: "rectify, erase and object queue one notification per recipient of the policies in the\n" +
			"same transaction as the change. A recipient with a webhook in --recipients is sent a\n" +
			"signed POST (Standard Webhooks) by `notify deliver` or the scheduler's notify job, retried\n" +
			"with backoff up to --horizon, then failed. The others are manual: tell them, then\n" +
			"`notify ack ID --note TEXT`. A request is closed only once its notifications are all\n" +
			"delivered or acknowledged.",
	}
	c.AddCommand(newNotifyListCmd(e), newNotifyDeliverCmd(e), newNotifyAckCmd(e), newNotifyStatusCmd(e))
	return c
}

// recipientStatus is one recipient's line of `notify status`.
type recipientStatus struct {
	store.NotificationSummary
	How           string  `json:"how"` // webhook or manual
	EndpointGone  bool    `json:"endpoint_gone"`
	GoneAt        *string `json:"gone_at"`
	LastDelivered *string `json:"last_delivered_at"`
}

func newNotifyStatusCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Per recipient: how it is told, its notifications by status, and whether its endpoint is gone (410)",
		Long: "status sums up the outbox per recipient of the policies. A recipient whose webhook answered\n" +
			"410 Gone has its endpoint gone: every notification it had pending was marked gone with the\n" +
			"one that met the 410, none is sent there again; fix its webhook in --recipients, tell the\n" +
			"recipient by hand and `notify ack` each. The endpoint is shown gone until they are acknowledged.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ids, err := e.recipientsConfig()
			if err != nil {
				return err
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			sums, err := store.NotificationSummaries(e.Ctx, db)
			if err != nil {
				return err
			}
			by := map[string]store.NotificationSummary{}
			for _, s := range sums {
				by[s.RecipientID] = s
			}
			for _, s := range sums { // recipients the policies no longer name, still in the outbox
				if !slices.Contains(ids, s.RecipientID) {
					ids = append(ids, s.RecipientID)
				}
			}
			out := make([]recipientStatus, 0, len(ids))
			for _, id := range ids {
				s, ok := by[id]
				if !ok {
					s = store.NotificationSummary{RecipientID: id, Counts: map[string]int64{}}
				}
				r := recipientStatus{NotificationSummary: s, How: "manual"}
				if cfg.Webhook(id) != "" {
					r.How = "webhook"
				}
				if s.GoneNotification != "" {
					r.EndpointGone = true
					t := store.FromMillis(s.GoneAt).UTC().Format(time.RFC3339)
					r.GoneAt = &t
				}
				if s.LastDeliveredAt != 0 {
					t := store.FromMillis(s.LastDeliveredAt).UTC().Format(time.RFC3339)
					r.LastDelivered = &t
				}
				out = append(out, r)
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"recipients": out})
			}
			for _, r := range out {
				e.Printf("%-16s %-8s", r.RecipientID, r.How)
				for _, st := range store.NotifyStatuses {
					e.Printf(" %s %d", st, r.Counts[st])
				}
				e.Printf("\n")
				if r.EndpointGone {
					e.Printf("  endpoint gone: it answered 410 Gone to %s at %s; its %d notification(s) marked gone are not sent:\n"+
						"  fix its webhook in --recipients, tell the recipient by hand, then oubli notify ack ID --note TEXT\n",
						r.GoneNotification, *r.GoneAt, r.Counts[store.NotifyGone])
				}
			}
			return nil
		},
	}
}

func newNotifyListCmd(e *Env) *cobra.Command {
	var f store.NotificationFilter
	c := &cobra.Command{
		Use:   "list [--status S] [--request ID]",
		Short: "List notifications, oldest first (never their payload)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.Status != "" && !slices.Contains(store.NotifyStatuses, f.Status) {
				return usageErrorf("--status %q: want one of %v", f.Status, store.NotifyStatuses)
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			ns, err := store.ListNotifications(e.Ctx, db, f)
			if err != nil {
				return err
			}
			views := make([]notificationView, len(ns))
			for i, n := range ns {
				views[i] = viewNotification(n)
			}
			if e.JSON() {
				return e.PrintJSON(map[string]any{"count": len(views), "notifications": views})
			}
			for _, v := range views {
				e.printNotificationLine(v, "")
			}
			e.Printf("%d notification(s)\n", len(views))
			return nil
		},
	}
	c.Flags().StringVar(&f.Status, "status", "", "only this status: queued, delivered, failed, gone, manual, acknowledged")
	c.Flags().StringVar(&f.RequestID, "request", "", "only the notifications of this request")
	return c
}

func newNotifyDeliverCmd(e *Env) *cobra.Command {
	var all bool
	var horizon, timeout time.Duration
	var conc int
	c := &cobra.Command{
		Use:   "deliver [--all] [--horizon D] [--timeout D] [--concurrency N]",
		Short: "Send the queued notifications that are due to the recipients' webhooks",
		Long: "deliver POSTs each due notification to its recipient's webhook with the Standard Webhooks\n" +
			"headers (webhook-id: the notification id, the same on every retry; webhook-timestamp;\n" +
			"webhook-signature: v1,HMAC-SHA256). A 2xx is delivered; 410 Gone marks the endpoint gone: that\n" +
			"notification and every other pending one of the recipient are marked gone (notify status);\n" +
			"anything else is retried with exponential backoff and jitter until --horizon after it was\n" +
			"queued, then failed. --all also sends those waiting for a retry.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case horizon <= 0:
				return usageErrorf("--horizon %s: want a positive duration (72h)", horizon)
			case timeout <= 0 || timeout > 5*time.Minute:
				return usageErrorf("--timeout %s: want a duration in (0, 5m]", timeout)
			case conc < 1 || conc > 256:
				return usageErrorf("--concurrency %d: want 1..256", conc)
			}
			d, err := e.Deliverer()
			if err != nil {
				return err
			}
			d.Horizon, d.Timeout, d.Concurrency = horizon, timeout, conc
			rep, err := d.Deliver(e.Ctx, all)
			if rep != nil {
				if e.JSON() {
					_ = e.PrintJSON(rep)
				} else {
					e.Printf("attempted %d: delivered %d, retrying %d, failed %d, gone %d; manual %d\n",
						rep.Attempted, rep.Delivered, rep.Retrying, rep.Failed, rep.Gone, rep.Manual)
					if rep.MarkedGone > 0 {
						e.Printf("%d more notification(s) marked gone, not sent: their recipient's endpoint answered 410 Gone (oubli notify status)\n", rep.MarkedGone)
					}
				}
			}
			return err
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also send the notifications waiting for a retry")
	c.Flags().DurationVar(&horizon, "horizon", notify.DefaultHorizon, "retry for this long after a notification was queued, then mark it failed")
	c.Flags().DurationVar(&timeout, "timeout", notify.DefaultTimeout, "time limit of one attempt")
	c.Flags().IntVar(&conc, "concurrency", notify.DefaultConcurrency, "requests in flight at once (1..256)")
	return c
}

func newNotifyAckCmd(e *Env) *cobra.Command {
	var note string
	c := &cobra.Command{
		Use:   "ack ID --note TEXT",
		Short: "Record that a manual (or failed, or gone) notification was done by hand",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if note == "" {
				return usageErrorf("--note is required: how and when the recipient was told")
			}
			db, err := e.Store()
			if err != nil {
				return err
			}
			n, err := notify.Ack(e.Ctx, db, args[0], note, e.Now())
			if err != nil {
				return err
			}
			v := viewNotification(n)
			if e.JSON() {
				return e.PrintJSON(v)
			}
			e.printNotificationLine(v, "")
			return nil
		},
	}
	c.Flags().StringVar(&note, "note", "", "how and when the recipient was told")
	return c
}

// addWhoAndRecipients adds to a request view who took each action (the
// actor of its audit entry) and the state of each recipient's notification.
func (e *Env) addWhoAndRecipients(v *requestView) error {
	db, err := e.Store()
	if err != nil {
		return err
	}
	var seqs []int64
	for _, a := range v.Actions {
		if a.AuditSeq != nil {
			seqs = append(seqs, *a.AuditSeq)
		}
	}
	actors, err := store.AuditActors(e.Ctx, db, seqs)
	if err != nil {
		return err
	}
	for i, a := range v.Actions {
		if a.AuditSeq != nil {
			v.Actions[i].Actor = actors[*a.AuditSeq]
		}
	}
	ns, err := store.ListNotifications(e.Ctx, db, store.NotificationFilter{RequestID: v.RequestID})
	if err != nil {
		return err
	}
	for _, n := range ns {
		v.Notifications = append(v.Notifications, viewNotification(n))
	}
	return nil
}
