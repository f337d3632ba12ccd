package workflows

import (
	"fmt"

	"github.com/robfig/cron/v3"
)

// cronParser accepts standard 5-field cron lines, an optional leading seconds field,
// descriptors (@daily, @every 10s) and a CRON_TZ=Area/City (or TZ=) prefix for the time zone.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a schedule: line ("0 3 * * *", "CRON_TZ=Europe/Berlin 0 3 * * *",
// "*/5 * * * * *" with seconds, "@every 1h").
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %v (want cron syntax such as \"0 3 * * *\", optionally with a CRON_TZ=Europe/Berlin prefix or a leading seconds field)", spec, err)
	}
	return s, nil
}
