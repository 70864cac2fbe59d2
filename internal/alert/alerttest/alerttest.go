// Package alerttest holds fixtures for tests of the missing-child desk: a
// data key ring and a fictional intake (no real child).
package alerttest

import (
	"bytes"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Ring returns a data key ring with one fixed test key.
func Ring(t testing.TB) *sealed.Ring {
	t.Helper()
	r, err := sealed.NewRing([]string{"test"}, [][]byte{bytes.Repeat([]byte{7}, sealed.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ChildName is the fictional child's name in Intake, for tests that look
// for it where it must not be (the database, the feed after closure).
const ChildName = "Ayesha Testcase"

// Intake returns a complete report of a fictional abduction last seen at
// seen, that passes the full alert checklist once a complaint is recorded.
func Intake(seen time.Time) alert.Intake {
	return alert.Intake{
		Channel: alert.Helpline,
		Child: alert.Child{Name: ChildName, Description: "Slim, about 120 cm, shoulder-length black hair, scar above the left eyebrow",
			DescriptionUR: "دبلی پتلی، تقریباً 120 سینٹی میٹر، کندھوں تک سیاہ بال، بائیں ابرو کے اوپر نشان",
			Clothing:      "red shalwar kameez, white sandals", PhotoURL: "https://photos.example.org/cases/test.jpg"},
		Age: 7, Sex: alert.Female,
		LastSeen:     alert.LastSeen{At: seen, Lat: 31.1167, Lon: 74.4500, Place: "Road Kot, near the market", District: "Kasur"},
		Circumstance: alert.Abduction, Danger: true,
		Guardian: alert.Person{Name: "Test Guardian", Relation: "mother", Phone: "+92 300 0000000"},
		Reporter: alert.Person{Name: "Helpline operator 12", Organisation: "ZARRA 1099"},
		Checklist: alert.PoliceChecklist{FriendsAndAcquaintances: []string{"neighbour's daughter"},
			Vehicles: []string{"white motorcycle seen nearby"}, Phones: []alert.Phone{{Maker: "Samsung", Model: "A05", Operator: "Jazz"}}},
		Suspect: "man about 30, grey shalwar kameez, white motorcycle without plates",
	}
}
