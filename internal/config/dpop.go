package config

import "time"

// DPoPConfig is the `dpop:` section: DPoP proofs (RFC 9449) at the token
// endpoint and the gateway.
type DPoPConfig struct {
	// ProofWindow is how far a DPoP proof's iat may be from the receiver's
	// clock, either way; proof IDs are remembered for twice as long. The
	// token endpoint and the gateway use it. Default (and 0) 60s.
	ProofWindow Duration `yaml:"proof_window"`
	// RequireNonce makes the token endpoint require a server nonce in DPoP
	// proofs (RFC 9449 §8): a proof without the current one gets
	// use_dpop_nonce and the nonce in DPoP-Nonce. Nonces are derived from
	// GATEHOUSE_SECRET, so every node accepts every node's. Default false.
	RequireNonce bool `yaml:"require_nonce"`
}

// DefaultDPoPProofWindow is dpop.proof_window's default.
const DefaultDPoPProofWindow = 60 * time.Second

// Window returns ProofWindow, or its default for 0.
func (d DPoPConfig) Window() time.Duration {
	if d.ProofWindow == 0 {
		return DefaultDPoPProofWindow
	}
	return time.Duration(d.ProofWindow)
}

func (c *Config) checkDPoP(p *problems) {
	if w := c.DPoP.ProofWindow; w != 0 && (w < Duration(time.Second) || w > Duration(10*time.Minute)) {
		p.add("dpop.proof_window is %s; use from 1s to 10m, e.g. 60s (0 = 60s)", w)
	}
}
