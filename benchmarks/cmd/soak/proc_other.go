//go:build !linux

package main

// procRSS is only known on Linux (/proc/self/status).
func procRSS() (rss, peak uint64) { return 0, 0 }
