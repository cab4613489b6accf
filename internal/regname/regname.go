// Package regname lets the module's protocols register a protocol under a
// name of their own choosing: the name its connections and refusals are
// counted, limited and reported under ([negotiate.ConnInfo].Name, the
// Stats keys, Options.ProtocolMaxConns, metrics labels), where a token
// registered with [negotiate.Registry.Register] is reported under its own
// name. The tunnel's middleware registers the token a client offers, which
// must not become a name: a client could make as many as it sends
// requests. The negotiate package sets Register when it starts.
package regname

// Register registers token for p in reg, as reg.Register(token, p) does,
// with name (lower case) as the protocol's name. reg is a
// *negotiate.Registry and p a negotiate.Protocol.
var Register func(reg any, token, name string, p any)
