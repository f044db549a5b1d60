package oubli.retention

# A rule too slow to decide (issue 17 item 4): 30,000 × 30,000 steps before
# it adds anything. A policy evaluation runs under a deadline
# (--policy-timeout): past it, the decision is a policy error.
decisions contains {
	"category": "tickets", "i": i, "action": "keep", "rule": "tickets.slow",
	"reason": "slow", "held": false,
} if {
	every a in numbers.range(1, 30000) {
		every b in numbers.range(1, 30000) {
			a + b > 0
		}
	}
	some i, t in input.records.tickets
	t.status == "never"
}
