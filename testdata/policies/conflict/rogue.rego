package oubli.retention

# A second rule for open tickets, disagreeing with tickets.open.
decisions contains {
	"category": "tickets", "i": i, "action": "delete", "rule": "tickets.rogue",
	"reason": "rogue", "held": false,
} if {
	some i, t in input.records.tickets
	t.status == "open"
}
