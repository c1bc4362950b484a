package config

import (
	"fmt"
	"runtime"
)

// transparentOS says whether this build can intercept connections: transparent interception
// uses netfilter (REDIRECT's SO_ORIGINAL_DST, TPROXY's IP_TRANSPARENT), which only Linux has.
// A variable so that the refusal elsewhere can be tested on Linux.
var transparentOS = runtime.GOOS == "linux"

// checkTransparent checks the transparent section: addresses that can be listened on, none
// shared with another of mdmproxy's listeners (listen, admin_listen, pac.listen) or given twice, a known mode, and an operating
// system that can intercept at all.
func checkTransparent(c *Config) Errors {
	var errs Errors
	add := func(key string, err error) {
		if err != nil {
			errs = append(errs, Error{Key: key, Msg: err.Error()})
		}
	}
	add("transparent.mode", oneOf(c.Transparent.Mode, "redirect", "tproxy"))
	if len(c.Transparent.Listen) > 0 && !transparentOS {
		add("transparent.listen", fmt.Errorf("transparent interception needs Linux (netfilter REDIRECT or TPROXY); this build is for %s", runtime.GOOS))
		return errs
	}
	others := []struct{ key, addr string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}}
	if c.PAC.Listen != "" {
		others = append(others, struct{ key, addr string }{"pac.listen", c.PAC.Listen})
	}
	for i, l := range c.Transparent.Listen {
		key := indexKey("transparent.listen", i)
		if err := checkListenAddr(l); err != nil {
			add(key, err)
			continue
		}
		for _, o := range others {
			if sameListener(l, o.addr) {
				add(key, fmt.Errorf("%s clashes with %s (%s); each listener needs its own address", quote(l), o.key, quote(o.addr)))
			}
		}
		others = append(others, struct{ key, addr string }{key, l})
	}
	return errs
}
