package oubli.clock

now := time.now_ns()
