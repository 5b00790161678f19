package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/postman"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

func (e *env) openapiCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "openapi",
		Short: "Turn the API's OpenAPI document into what integrators use (a Postman collection)",
	}
	var issuer, baseURL, clientID, output, mergeFile string
	pm := &cobra.Command{
		Use:   "postman FILE",
		Short: "Export the API's OpenAPI document as a Postman collection (v2.1) that gets its own tokens",
		Long: `Export the API of an OpenAPI 3.0 or 3.1 document (YAML or JSON) as a Postman
Collection v2.1: one request per operation, in folders by tag, with OAuth 2.0
client credentials against Gatehouse's token endpoint (Postman's "Get New
Access Token" works) and a pre-request script that gets, caches and renews a
token, so the collection also runs unattended (newman).

The collection's variables are baseUrl, tokenUrl, clientId, clientSecret and
scope; clientSecret is always empty: set it in Postman, or pass it to newman
(--env-var clientSecret=...). gatehouse serve --openapi FILE serves the same
collection at /docs/postman.json.`,
		Example: "  gatehouse openapi postman openapi.yaml --issuer https://auth.example.com --base-url https://api.example.com/v1 --output api.postman.json\n" +
			"  gatehouse openapi postman openapi.yaml --client-id billing-sync > api.postman.json",
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := e.loadConfig(cmd, df, func(c *config.Config) {
				if cmd.Flags().Changed("issuer") {
					c.Issuer = issuer
				}
			})
			if err != nil {
				return err
			}
			if baseURL != "" {
				if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usagef("--base-url %q: want the API's absolute http(s) URL, the gateway's URL and base path, e.g. https://api.example.com/v1", baseURL)
				}
			}
			api, err := openapi.Load(args[0], openapi.Options{ScopesFile: mergeFile})
			if pe, ok := errors.AsType[*scope.ParseError](err); ok {
				fmt.Fprintln(e.stderr, pe.Error())
				return fmt.Errorf("%s: %s; check it with gatehouse scopes check", pe.File, countOf(len(pe.Problems), "problem"))
			}
			if err != nil {
				return err
			}
			e.printWarnings(args[0], api)
			b, err := postman.Export(api, postman.Options{
				TokenURL: strings.TrimSuffix(cfg.Issuer, "/") + server.PathToken,
				BaseURL:  baseURL,
				ClientID: clientID,
			})
			if err != nil {
				if baseURL == "" {
					return fmt.Errorf("%s: %v (--base-url)", args[0], err)
				}
				return err
			}
			if output == "" || output == "-" {
				_, err = e.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(output, b, 0o644); err != nil {
				return fmt.Errorf("write the collection: %w", err)
			}
			fmt.Fprintf(e.stdout, "%s: %s, Postman Collection v2.1; set clientSecret in Postman or pass it to newman\n", output, countOf(len(api.Operations), "request"))
			return nil
		},
	}
	f := pm.Flags()
	f.StringVar(&issuer, "issuer", "", "Gatehouse's issuer URL: the token URL is its /oauth/token (default: the server's, as serve would use it; env GATEHOUSE_ISSUER)")
	f.StringVar(&baseURL, "base-url", "", "the API's URL, the gateway's URL and base path, e.g. https://api.example.com/v1 (default: the document's first server URL)")
	f.StringVar(&clientID, "client-id", "", "prefill the clientId variable (the secret is never written)")
	f.StringVarP(&output, "output", "o", "", "write the collection to this file (default: standard output)")
	f.StringVar(&mergeFile, "scopes", "", "a YAML scope catalog merged into the derived one, as serve --scopes does")
	cmd.AddCommand(pm)
	return cmd
}
