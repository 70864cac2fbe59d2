package report_test

import "filippo.io/age"

func ageIdentity() (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	return id.Recipient().String(), nil
}
