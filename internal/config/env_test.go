package config_test

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

// TestEnvVarsDocumented: the variables config reads are exactly the ones
// the README documents (apart from the test suites' own).
func TestEnvVarsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	testOnly := []string{"GATEHOUSE_CHROMIUM", "GATEHOUSE_SCREENSHOTS", "GATEHOUSE_TEST_DATABASE_URL"}
	var documented []string
	for _, m := range regexp.MustCompile(`GATEHOUSE_[A-Z_]+[A-Z]`).FindAllString(string(readme), -1) {
		if !slices.Contains(documented, m) && !slices.Contains(testOnly, m) {
			documented = append(documented, m)
		}
	}
	read := config.EnvVars()
	slices.Sort(documented)
	slices.Sort(read)
	for _, v := range read {
		if !slices.Contains(documented, v) {
			t.Errorf("config reads %s, which README.md does not document", v)
		}
	}
	for _, v := range documented {
		if !slices.Contains(read, v) {
			t.Errorf("README.md documents %s, which config does not read", v)
		}
	}
}
