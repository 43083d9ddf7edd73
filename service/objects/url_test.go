package objects_test

import (
	"strings"
	"testing"

	"github.com/changzhi/redpoint/service/objects"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		url  string
		want objects.Settings
	}{
		{"https://AK:SK@oss-cn-beijing.aliyuncs.com/redpoint?region=oss-cn-beijing&lookup=dns",
			objects.Settings{Endpoint: "oss-cn-beijing.aliyuncs.com", Secure: true, AccessKey: "AK", SecretKey: "SK", Bucket: "redpoint", Region: "oss-cn-beijing", Lookup: "dns"}},
		{"https://AK:SK@cos.ap-beijing.myqcloud.com/redpoint-1250000000?region=ap-beijing&lookup=dns",
			objects.Settings{Endpoint: "cos.ap-beijing.myqcloud.com", Secure: true, AccessKey: "AK", SecretKey: "SK", Bucket: "redpoint-1250000000", Region: "ap-beijing", Lookup: "dns"}},
		{"http://AK:SK@10.0.0.5:9000/redpoint?lookup=path",
			objects.Settings{Endpoint: "10.0.0.5:9000", AccessKey: "AK", SecretKey: "SK", Bucket: "redpoint", Lookup: "path"}},
		{"http://S3RVER:S3RVER@127.0.0.1:4568/redpoint-test/rptest-0a/deeper/?lookup=path",
			objects.Settings{Endpoint: "127.0.0.1:4568", AccessKey: "S3RVER", SecretKey: "S3RVER", Bucket: "redpoint-test", Prefix: "rptest-0a/deeper", Lookup: "path"}},
		{"https://AK:s%2Fk%2Bx%40y@minio.example.com/bk1",
			objects.Settings{Endpoint: "minio.example.com", Secure: true, AccessKey: "AK", SecretKey: "s/k+x@y", Bucket: "bk1", Lookup: "auto"}},
	}
	for _, tc := range good {
		got, err := objects.ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%s) =\n%+v, %v\nwant %+v", tc.url, got, err, tc.want)
		}
		if strings.Contains(got.String(), "SK") && tc.want.SecretKey == "SK" {
			t.Errorf("Settings.String() shows the secret key: %s", got)
		}
	}
	bad := []struct {
		url, part string // the error names part
	}{
		{"ftp://AK:SK@host/redpoint", "scheme"},
		{"s3://AK:SK@host/redpoint", "scheme"},
		{"oss-cn-beijing.aliyuncs.com/redpoint", "scheme"},
		{"https://AK:SK@host", "bucket"},
		{"https://AK:SK@host/", "bucket"},
		{"https://AK:SK@host/Bad_Bucket", "bucket"},
		{"https://AK:SK@host/ab", "bucket"},
		{"https://host/redpoint", "credentials"},
		{"https://AK@host/redpoint", "credentials"},
		{"https://AK:@host/redpoint", "credentials"},
		{"https://:SK@host/redpoint", "credentials"},
		{"https://AK:SK@/redpoint", "host"},
		{"https://AK:SK@host:/redpoint", "port"},
		{"https://AK:SK@host/redpoint?lookup=vhost", "lookup"},
		{"https://AK:SK@host/redpoint?lookup=", "lookup"},
		{"https://AK:SK@host/redpoint?region=", "region"},
		{"https://AK:SK@host/redpoint?regoin=cn-beijing", "regoin"},
		{"https://AK:SK@host/redpoint?lookup=dns&lookup=path", "lookup"},
		{"https://AK:SK@host/redpoint/a//b", "prefix"},
		{"https://AK:SK@host/redpoint/../b", "prefix"},
		{"https://AK:SK@host/redpoint#frag", "fragment"},
		{"https://AK:SK@host:99999x/redpoint", "port"},
		{"https://AK:S%zzK@host/redpoint", "escape"},
	}
	for _, tc := range bad {
		_, err := objects.ParseURL(tc.url)
		if err == nil {
			t.Errorf("ParseURL(%s) succeeded; want an error about the %s", tc.url, tc.part)
			continue
		}
		if !strings.Contains(err.Error(), tc.part) {
			t.Errorf("ParseURL(%s): %v; want it to name the %s", tc.url, err, tc.part)
		}
		if strings.Contains(err.Error(), "SK") {
			t.Errorf("ParseURL(%s): the error %q repeats the secret key", tc.url, err)
		}
	}
}
