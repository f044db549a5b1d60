package oubli.strict

import data.oubli.calendar

unused_var if {
	x := 1
	true
}
