package dsr

import (
	"encoding/json"
	"strconv"
	"time"
)

func erItoa(v int64) string   { return strconv.FormatInt(v, 10) }
func erFtoa(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

type timeNow = time.Time

func erJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
