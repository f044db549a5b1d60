# METADATA
# title: Notifications to recipients (Art. 19)
# description: |
#   How long the outbox keeps a notification to a recipient of personal
#   data once it is handled (delivered to the recipient's webhook, or
#   acknowledged as told by hand). A delivered or acknowledged notification
#   holds no payload any more, only its SHA-256, the recipient, the request
#   and the subject's keyed hash: it is the proof that the recipient was
#   told. A notification not yet handled is never deleted.
# custom:
#   wording: Nous informons les destinataires de vos données de chaque rectification, effacement ou opposition, et conservons la preuve de cette information un an.
package oubli.notifications

import data.oubli.calendar

# METADATA
# title: Retention of handled notifications
# description: A delivered or acknowledged notification is kept one year after it was delivered or acknowledged, then deleted by the nightly purge.
# custom:
#   id: notifications.schedule
#   legal_basis: Art. 5(2) and Art. 19 GDPR (accountability for telling the recipients); Art. 5(1)(e) (storage limitation)
#   justification: The proof that each recipient was told of a rectification, erasure or objection answers a complaint about that request; such a complaint comes within the year, and the request's own record (register, five years) keeps the outcome after that.
schedule := {
	"clock_label": {"fr": "remise ou accusé de réception", "en": "delivery or acknowledgement"},
	"period": {"years": 1, "months": 0, "days": 0},
	"action": "delete",
	"legal_basis": "Art. 5(2) and Art. 19 GDPR; Art. 5(1)(e) GDPR",
	"justification": "Proof that the recipient was told, for a complaint about the request; the register keeps the request's outcome five years.",
}

handled := {"delivered", "acknowledged"}

# done_ms(n) is when a handled notification was handled.
done_ms(n) := n.delivered_at if n.status == "delivered"

done_ms(n) := n.acked_at if n.status == "acknowledged"

# METADATA
# title: Notifications not yet handled are kept
# description: A queued, failed, gone or manual notification is the recipient's pending information; it is kept until it is delivered or acknowledged.
# custom:
#   id: notifications.pending
#   category: notifications
#   action: keep
#   legal_basis: Art. 19 GDPR
#   wording: A recipient who has not yet been told is told first.
decisions contains {
	"category": "notifications", "i": i, "action": "keep", "rule": "notifications.pending",
	"reason": "not yet delivered or acknowledged: the recipient has not been told",
	"held": false,
} if {
	some i, n in input.records.notifications
	not handled[n.status]
}

# METADATA
# title: Handled notifications are kept one year
# custom:
#   id: notifications.retained
#   category: notifications
#   action: keep
#   legal_basis: Art. 5(2) GDPR
#   wording: The proof that a recipient was told is kept one year.
decisions contains {
	"category": "notifications", "i": i, "action": "keep", "rule": "notifications.retained",
	"reason": "delivered or acknowledged less than a year ago: kept as proof that the recipient was told",
	"held": false, "from": done_ms(n), "period": schedule.period,
} if {
	lim := calendar.latest_start_ms(input.now_ms, schedule.period)
	some i, n in input.records.notifications
	handled[n.status]
	done_ms(n) > lim
}

# METADATA
# title: Handled notifications are deleted after one year
# custom:
#   id: notifications.expired
#   category: notifications
#   action: delete
#   legal_basis: Art. 5(1)(e) GDPR
#   wording: One year after a recipient was told, the proof is deleted.
decisions contains {
	"category": "notifications", "i": i, "action": "delete", "rule": "notifications.expired",
	"reason": "delivered or acknowledged more than a year ago",
	"held": false, "from": done_ms(n), "period": schedule.period,
} if {
	lim := calendar.latest_start_ms(input.now_ms, schedule.period)
	some i, n in input.records.notifications
	handled[n.status]
	done_ms(n) <= lim
}
