package cli

import (
	"github.com/spf13/cobra"

	"github.com/oubli/oubli/blobs"
)

func init() { register(newMigrateCmd) }

func newMigrateCmd(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the schema (and the S3 bucket of --blobs s3://… when missing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The bucket first: a missing permission (exit 2) changes nothing.
			bucketCreated := false
			if e.BlobsDir != "" {
				loc, err := e.BlobsLocation()
				if err != nil {
					return err
				}
				if loc.IsS3() {
					if bucketCreated, err = blobs.EnsureBucket(e.Ctx, loc, blobs.S3Options{}); err != nil {
						return err
					}
				}
			}
			e.noSchemaCheck = true
			db, err := e.Store()
			if err != nil {
				return err
			}
			applied, err := db.MigrateReport(e.Ctx)
			if err != nil {
				return err
			}
			v, _ := db.SchemaVersion(e.Ctx)
			if e.JSON() {
				if applied == nil {
					applied = []int64{}
				}
				return e.PrintJSON(map[string]any{"applied": applied, "version": v, "bucket_created": bucketCreated})
			}
			if bucketCreated {
				e.Printf("bucket created\n")
			}
			e.Printf("schema at version %d (%d migration(s) applied)\n", v, len(applied))
			return nil
		},
	}
}
