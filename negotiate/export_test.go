package negotiate

// ResolvedOptions returns the options n runs with, defaults filled in.
func ResolvedOptions(n *Negotiator) Options { return n.opts }
