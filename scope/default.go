package scope

// DefaultYAML is the built-in scope catalog, used when no catalog file is
// configured.
const DefaultYAML = `scopes:
  profile:
    label: Access your profile information
    endpoints:
      - workers/me: GET
    self_service: true
  search:
    label: Search records on your behalf
    endpoints:
      - records/*/search: [GET]
    self_service: true
  api:read-only:
    label: Make any read-only API request on your behalf
    endpoints:
      - "*": [GET]
    self_service: true
  api:
    label: Make any API request on your behalf
    endpoints:
      - "*"            # every method
    default: true
`

// Default returns the built-in catalog ([DefaultYAML]): profile, search,
// api:read-only and api, with api the default scope and the three read-only
// ones self-service.
func Default() *Catalog {
	c, err := Parse([]byte(DefaultYAML))
	if err != nil {
		panic("scope: built-in catalog: " + err.Error())
	}
	return c
}
