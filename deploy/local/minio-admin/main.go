// keel-minio-admin applies the secure profile's object-store users and policies to a MinIO server through its admin
// API (madmin-go, MinIO's own admin client): one canned policy per service, one user per service, the policy
// attached. Idempotent: a policy or user that exists is overwritten with the same content, an attachment that is
// already in effect is left as it is.
//
//	MINIO_ROOT_USER=... MINIO_ROOT_PASSWORD=... keel-minio-admin 127.0.0.1:19000 access.json
//
// access.json: {"policies": {"<name>": <IAM policy document>}, "users": [{"accessKey", "secretKey", "policy"}]}.
// Secrets come from the file, never from the command line (which any local user can read in the process list).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/minio/madmin-go/v3"
)

type access struct {
	Policies map[string]json.RawMessage `json:"policies"`
	Users    []struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
		Policy    string `json:"policy"`
	} `json:"users"`
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: keel-minio-admin <host:port> <access.json> (root credentials in MINIO_ROOT_USER, MINIO_ROOT_PASSWORD)")
	}
	raw, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err.Error())
	}
	var want access
	if err := json.Unmarshal(raw, &want); err != nil {
		fail("access file: " + err.Error())
	}
	admin, err := madmin.New(os.Args[1], os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD"), false)
	if err != nil {
		fail(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for name, policy := range want.Policies {
		if err := admin.AddCannedPolicy(ctx, name, policy); err != nil {
			fail(fmt.Sprintf("policy %s: %v", name, err))
		}
	}
	for _, user := range want.Users {
		if err := admin.AddUser(ctx, user.AccessKey, user.SecretKey); err != nil {
			fail(fmt.Sprintf("user %s: %v", user.AccessKey, err))
		}
		_, err := admin.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{user.Policy}, User: user.AccessKey})
		if err != nil && !strings.Contains(err.Error(), "already in effect") {
			fail(fmt.Sprintf("attach %s to %s: %v", user.Policy, user.AccessKey, err))
		}
	}
	fmt.Printf("keel-minio-admin: %d policies, %d users\n", len(want.Policies), len(want.Users))
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "keel-minio-admin: "+message)
	os.Exit(1)
}
