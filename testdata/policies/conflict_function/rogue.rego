package oubli.retention

# A second answer for when a released hold ended: eval_conflict_error.
ended(h) := 0 if h.released_at
