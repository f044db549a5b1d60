package oubli.broken

x := {"a": 1,

y := 2
