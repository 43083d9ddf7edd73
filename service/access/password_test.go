package access

import "testing"

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("redpoint-demo")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := HashPassword("redpoint-demo")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if ok, err := VerifyPassword(h, "redpoint-demo"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyPassword(h, "redpoint-demo!"); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	if _, err := VerifyPassword("$bcrypt$xyz", "x"); err == nil {
		t.Error("malformed hash accepted")
	}
}
