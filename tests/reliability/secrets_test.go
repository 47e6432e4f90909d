package reliability

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/entra-di/edi/tests/entrasim"
	"github.com/entra-di/edi/tests/scenario"
)

// TestSecretScanCatchesPlantedSecrets is the negative control of the secret scan every test here ends with: a
// secret planted in a blob, a table entity and (base64-encoded, as the host writes them) a queue message of a
// scenario's storage is found in each place, by name, and the report never quotes the value.
func TestSecretScanCatchesPlantedSecrets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := scenario.Start(ctx, scenario.Options{AppRoot: appRoot, Tenant: entrasim.Options{Seed: 7, Users: 5, History: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := collect(ctx, env); err != nil {
		t.Fatal(err)
	}
	// Clean after a real collection.
	if err := env.ScanSecrets(ctx); err != nil {
		t.Fatalf("secret scan of a clean collection: %v", err)
	}

	const value = "planted-Q8~vX2sN4kT7pL1mR9wZ3cF6hJ0bD5gY"
	env.Secrets.Add("planted client secret", value)
	blobs, err := env.Azurite.BlobClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.UploadBuffer(ctx, env.Settings["RAW_CONTAINER"], "planted/part.ndjson", []byte(`{"note":"`+value+`"}`+"\n"), nil); err != nil {
		t.Fatal(err)
	}
	tables, err := env.Azurite.TableClient()
	if err != nil {
		t.Fatal(err)
	}
	tc := tables.NewClient("planted")
	if _, err := tc.CreateTable(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ent, _ := (&aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: "p", RowKey: "r"}, Properties: map[string]any{"LastError": "token for " + value}}).MarshalJSON()
	if _, err := tc.AddEntity(ctx, ent, nil); err != nil {
		t.Fatal(err)
	}
	queues, err := env.Azurite.QueueClient()
	if err != nil {
		t.Fatal(err)
	}
	q := queues.NewQueueClient("planted")
	if _, err := q.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString([]byte(`{"secret":"`+value+`"}`)), nil); err != nil {
		t.Fatal(err)
	}

	scan, err := env.ScanSecretsReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range scan.Findings {
		if strings.Contains(f.String(), value) {
			t.Errorf("a finding quotes the secret: %s", f)
		}
		if f.Secret != "planted client secret" {
			t.Errorf("unexpected finding: %s", f)
			continue
		}
		t.Log(f)
		for _, place := range []string{"blob", "table", "queue"} {
			if strings.HasPrefix(f.Where, place) && strings.Contains(f.Where, "planted") {
				found[place] = true
			}
		}
	}
	for _, place := range []string{"blob", "table", "queue"} {
		if !found[place] {
			t.Errorf("the secret planted in a %s was not found: %v", place, scan.Findings)
		}
	}
}
