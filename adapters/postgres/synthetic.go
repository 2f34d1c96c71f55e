package postgres

import (
	"context"

	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Synthetic clients take the client numbers FirstSyntheticClientNumber,
// FirstSyntheticClientNumber+1, …: eight digits, outside the seven-digit
// demo range, so a load test's registry and the demo data live side by
// side.
const (
	FirstSyntheticClientNumber = 20_000_000
	MaxSyntheticClients        = 99_999_999 - FirstSyntheticClientNumber + 1
)

// syntheticColumns are the columns SeedSyntheticClients copies; the others
// take their defaults.
var syntheticColumns = []string{"user_id", "client_number", "birth_date", "given_names", "surname",
	"personal_number", "phone", "nationality", "status"}

// SeedSyntheticClients adds n generated registry clients for load tests and
// benchmarks, with COPY (about a million in 20 s on two cores). The same n
// and seed always generate the same clients: client numbers from
// FirstSyntheticClientNumber, birth dates 1940–2007, Czech, Slovak,
// English, German and Polish names with their diacritics, valid Czech and
// Slovak personal numbers (with the modulo-11 check digit from 1954 on,
// women's months + 50, serials 800–999 so no demo client's number is
// reused), E.164 phone numbers unique among the first ten million clients
// (3% have none), and 92% ACTIVE, 5% BLOCKED, 3% CLOSED.
//
// It returns how many clients it added. When every client number of the
// range is taken it adds none; when some are, it adds the missing ones
// (through a temporary table and INSERT … ON CONFLICT DO NOTHING).
func SeedSyntheticClients(ctx context.Context, pool *pgxpool.Pool, n int, seed int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	if n > MaxSyntheticClients {
		return 0, domain.Invalid("syntheticClients", "must be at most %d", MaxSyntheticClients)
	}
	d := newDB(pool)
	lo, hi := strconv.Itoa(FirstSyntheticClientNumber), strconv.Itoa(FirstSyntheticClientNumber+n)
	var existing int64
	err := d.run(ctx, "client", func(ctx context.Context) error {
		return pool.QueryRow(ctx, `SELECT count(*) FROM clients
WHERE status <> 'PROSPECT' AND client_number >= $1 AND client_number < $2 AND length(client_number) = 8`, lo, hi).Scan(&existing)
	})
	if err != nil {
		return 0, fmt.Errorf("counting synthetic clients: %w", err)
	}
	switch {
	case existing >= int64(n):
		return 0, nil
	case existing == 0:
		var added int64
		err := d.run(ctx, "client", func(ctx context.Context) error {
			var err error
			added, err = pool.CopyFrom(ctx, pgx.Identifier{"clients"}, syntheticColumns, newSynthetic(n, seed))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("copying synthetic clients: %w", err)
		}
		return added, nil
	}
	var added int64
	err = d.run(ctx, "client", func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE synthetic_clients
(LIKE clients INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"synthetic_clients"}, syntheticColumns, newSynthetic(n, seed)); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO clients SELECT * FROM synthetic_clients ON CONFLICT DO NOTHING`)
			added = tag.RowsAffected()
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("adding missing synthetic clients: %w", err)
	}
	return added, nil
}

// synthetic generates the clients of SeedSyntheticClients as a
// pgx.CopyFromSource, one row at a time, so a million rows never sit in
// memory.
type synthetic struct {
	rng     *rand.Rand
	pops    []nationality
	n, i    int
	row     []any
	serials []uint16 // next personal-number serial per (birth day, sex)
}

func newSynthetic(n int, seed int64) *synthetic {
	return &synthetic{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x6f6e626f61726469)),
		pops:    syntheticPopulations(),
		n:       n,
		row:     make([]any, len(syntheticColumns)),
		serials: make([]uint16, 2*(synthLastDay-synthFirstDay+1)),
	}
}

// The birth dates: 1940-01-01 to 2007-12-31, as days since the Unix epoch.
const (
	synthFirstDay = -10958
	synthLastDay  = 13878
)

// Next implements pgx.CopyFromSource.
func (s *synthetic) Next() bool { return s.i < s.n }

// Err implements pgx.CopyFromSource; generation cannot fail.
func (s *synthetic) Err() error { return nil }

// Values implements pgx.CopyFromSource: the next client's columns.
func (s *synthetic) Values() ([]any, error) {
	c := s.client(s.i)
	s.i++
	s.row[0], s.row[1], s.row[2] = c.UserID, c.ClientNumber, c.BirthDate.Time()
	s.row[3], s.row[4] = c.GivenNames, c.Surname
	s.row[5], s.row[6] = textPtr(c.PersonalNumber), textPtr(c.Phone)
	s.row[7], s.row[8] = c.Nationality, string(c.Status)
	return s.row, nil
}

// client generates the i-th client. The random draws happen in a fixed
// order, so the same seed yields the same sequence.
func (s *synthetic) client(i int) domain.Client {
	r := s.rng
	nat := s.pickNationality(r.IntN(100))
	female := r.IntN(2) == 1
	day := synthFirstDay + r.IntN(synthLastDay-synthFirstDay+1)
	birth := domain.DateOf(time.Unix(int64(day)*86400, 0).UTC())
	c := domain.Client{
		UserID:       s.userID(i),
		ClientNumber: strconv.Itoa(FirstSyntheticClientNumber + i),
		BirthDate:    birth,
		Nationality:  nat.code,
		Status:       domain.StatusActive,
	}
	given, surnames := nat.male, nat.surnames(female)
	if female {
		given = nat.female
	}
	c.GivenNames = given[r.IntN(len(given))]
	if nat.secondName && r.IntN(100) < 15 {
		c.GivenNames += " " + given[r.IntN(len(given))]
	}
	c.Surname = surnames[r.IntN(len(surnames))]
	if nat.personalNumbers {
		c.PersonalNumber = s.personalNumber(birth, day, female)
	}
	if r.IntN(100) >= 3 {
		c.Phone = nat.phone(i)
	}
	switch p := r.IntN(100); {
	case p < 5:
		c.Status = domain.StatusBlocked
	case p < 8:
		c.Status = domain.StatusClosed
	}
	return c
}

// userID returns a UUIDv7-shaped id whose leading 48 bits grow with i, so
// the primary key index is filled in order (fast COPY), and whose other
// bits are random.
func (s *synthetic) userID(i int) string {
	var b [16]byte
	ts := uint64(0x0190_0000_0000) + uint64(i)
	for k := 0; k < 6; k++ {
		b[k] = byte(ts >> (40 - 8*k))
	}
	lo, hi := s.rng.Uint64(), s.rng.Uint64()
	for k := 6; k < 16; k++ {
		if k < 14 {
			b[k] = byte(lo >> (8 * (k - 6)))
		} else {
			b[k] = byte(hi >> (8 * (k - 14)))
		}
	}
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return uuid.UUID(b).String()
}

// personalNumber returns a Czech/Slovak birth number (rodné číslo) for the
// birth date and sex: YYMMDD (month + 50 for women) and a serial; from 1954
// on a tenth digit makes the number divisible by 11. Serials come from a
// counter per (day, sex) in 800–999, so numbers never repeat within a run
// and stay clear of the hand-written demo numbers.
func (s *synthetic) personalNumber(birth domain.Date, day int, female bool) string {
	bucket := 2 * (day - synthFirstDay)
	month := int(birth.Month())
	if female {
		bucket++
		month += 50
	}
	prefix := (birth.Year()%100)*10000 + month*100 + birth.Day()
	for {
		serial := 800 + int(s.serials[bucket])%200
		s.serials[bucket]++
		if birth.Year() < 1954 {
			return fmt.Sprintf("%06d%03d", prefix, serial)
		}
		base := prefix*1000 + serial
		check := (11 - (base*10)%11) % 11
		if check < 10 {
			return fmt.Sprintf("%06d%03d%d", prefix, serial, check)
		}
		// No digit makes this serial divisible by 11: take the next one.
	}
}

// nationality is one synthetic population: names, whether it has birth
// numbers, and its phone numbering.
type nationality struct {
	code                         string
	weight                       int // per cent of clients
	male, female                 []string
	maleSurnames, femaleSurnames []string
	secondName                   bool
	personalNumbers              bool
	phonePrefix                  string
	phoneDigits                  int // subscriber digits after the prefix
	phoneStride                  int // coprime with 10: i -> number is a bijection
}

// phone returns the i-th client's number: prefix and a permutation of i, so
// numbers are unique while i < 10^phoneDigits and do not look sequential.
func (n *nationality) phone(i int) string {
	mod := 1
	for range n.phoneDigits {
		mod *= 10
	}
	v := (i*n.phoneStride + 7_654_321) % mod
	return n.phonePrefix + fmt.Sprintf("%0*d", n.phoneDigits, v)
}

// pickNationality returns the population of a draw p in [0, 100).
func (s *synthetic) pickNationality(p int) *nationality {
	for i := range s.pops {
		if p < s.pops[i].weight {
			return &s.pops[i]
		}
		p -= s.pops[i].weight
	}
	return &s.pops[0]
}

// syntheticPopulations returns the generator's populations; their weights
// add up to 100. Phone prefixes avoid the demo clients' numbers (+420777…,
// +42060…, +447700…, +49170…).
func syntheticPopulations() []nationality {
	return []nationality{
		{
			code: "CZE", weight: 78, personalNumbers: true,
			male: []string{"Jan", "Petr", "Jiří", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk",
				"Václav", "Michal", "František", "Jakub", "Lukáš", "Ondřej", "Vojtěch", "Radek", "Stanislav", "Milan",
				"Karel", "Aleš", "Filip", "Matěj", "Dominik", "Štěpán", "Bohumil", "Libor", "Přemysl", "Vít"},
			female: []string{"Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Věra", "Lucie", "Alena",
				"Petra", "Veronika", "Jaroslava", "Tereza", "Martina", "Michaela", "Jitka", "Zdeňka", "Ludmila", "Helena",
				"Barbora", "Markéta", "Klára", "Šárka", "Žaneta", "Radka", "Dagmar", "Iveta", "Božena", "Natálie"},
			maleSurnames: []string{"Novák", "Svoboda", "Novotný", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý",
				"Horák", "Němec", "Marek", "Pospíšil", "Pokorný", "Hájek", "Král", "Jelínek", "Růžička", "Beneš", "Fiala",
				"Sedláček", "Doležal", "Zeman", "Kolář", "Navrátil", "Čermák", "Vaněk", "Urban", "Blažek", "Kříž",
				"Kovář", "Šťastný", "Bartoš", "Vlček", "Polák", "Kopecký", "Musil", "Šimek", "Konečný", "Malý", "Holub",
				"Štěpánek", "Kadlec", "Žák", "Řezníček"},
			femaleSurnames: []string{"Nováková", "Svobodová", "Novotná", "Dvořáková", "Černá", "Procházková",
				"Kučerová", "Veselá", "Horáková", "Němcová", "Marková", "Pospíšilová", "Pokorná", "Hájková", "Králová",
				"Jelínková", "Růžičková", "Benešová", "Fialová", "Sedláčková", "Doležalová", "Zemanová", "Kolářová",
				"Navrátilová", "Čermáková", "Vaňková", "Urbanová", "Blažková", "Křížová", "Kovářová", "Šťastná",
				"Bartošová", "Vlčková", "Poláková", "Kopecká", "Musilová", "Šimková", "Konečná", "Malá", "Holubová",
				"Štěpánková", "Kadlecová", "Žáková", "Řezníčková"},
			phonePrefix: "+42073", phoneDigits: 7, phoneStride: 7_919,
		},
		{
			code: "SVK", weight: 6, personalNumbers: true,
			male:           []string{"Ján", "Peter", "Michal", "Jozef", "Martin", "Tomáš", "Marek", "Ľubomír", "Dušan", "Juraj"},
			female:         []string{"Mária", "Zuzana", "Katarína", "Jana", "Eva", "Lucia", "Ľudmila", "Martina", "Ivana", "Soňa"},
			maleSurnames:   []string{"Horváth", "Kováč", "Varga", "Tóth", "Nagy", "Baláž", "Szabó", "Molnár", "Lukáč", "Kráľ"},
			femaleSurnames: []string{"Horváthová", "Kováčová", "Vargová", "Tóthová", "Nagyová", "Balážová", "Szabóová", "Molnárová", "Lukáčová", "Kráľová"},
			phonePrefix:    "+42190", phoneDigits: 7, phoneStride: 6_607,
		},
		{
			code: "GBR", weight: 8, secondName: true,
			male: []string{"James", "John", "Robert", "Michael", "William", "David", "Richard", "Thomas", "Oliver",
				"George", "Harry", "Jack", "Noah", "Arthur"},
			female: []string{"Mary", "Elizabeth", "Sarah", "Emma", "Olivia", "Sophie", "Charlotte", "Emily", "Amelia",
				"Jessica", "Chloë", "Zoë", "Renée", "Isla"},
			maleSurnames: []string{"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
				"Johnson", "Roberts", "Walker", "Wright", "Robinson", "Thompson", "White", "Hughes", "Edwards", "Green",
				"O'Brien", "Clarke", "Hall"},
			phonePrefix: "+4479", phoneDigits: 8, phoneStride: 104_729,
		},
		{
			code: "DEU", weight: 4, secondName: true,
			male:   []string{"Lukas", "Jonas", "Maximilian", "Felix", "Paul", "Jürgen", "Günter", "Stefan", "Jörg", "Uwe"},
			female: []string{"Anna", "Lena", "Sophie", "Jutta", "Ursula", "Bärbel", "Sabine", "Katrin", "Jördis", "Hannelore"},
			maleSurnames: []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
				"Schulz", "Hoffmann", "Schröder", "Köhler", "Weiß", "Groß", "Krüger"},
			phonePrefix: "+49151", phoneDigits: 8, phoneStride: 130_043,
		},
		{
			code: "POL", weight: 2,
			male:           []string{"Łukasz", "Paweł", "Piotr", "Krzysztof", "Tomasz", "Michał", "Grzegorz", "Wojciech"},
			female:         []string{"Małgorzata", "Agnieszka", "Katarzyna", "Anna", "Zofia", "Joanna", "Jadwiga", "Bożena"},
			maleSurnames:   []string{"Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Woźniak", "Dąbrowski"},
			femaleSurnames: []string{"Kowalska", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowska", "Zielińska", "Woźniak", "Dąbrowska"},
			phonePrefix:    "+4850", phoneDigits: 7, phoneStride: 9_973,
		},
		{
			code: "USA", weight: 2, secondName: true,
			male:         []string{"James", "Michael", "Christopher", "Daniel", "Matthew", "Anthony", "Joshua", "José"},
			female:       []string{"Jennifer", "Jessica", "Ashley", "Amanda", "Megan", "Brittany", "María", "Chloé"},
			maleSurnames: []string{"Smith", "Johnson", "Miller", "Garcia", "Rodriguez", "Martinez", "Anderson", "Peña", "Núñez"},
			phonePrefix:  "+1646", phoneDigits: 7, phoneStride: 7_727,
		},
	}
}

// surnames returns the surname list for the sex: populations whose
// surnames do not change with sex have one list.
func (n *nationality) surnames(female bool) []string {
	if female && n.femaleSurnames != nil {
		return n.femaleSurnames
	}
	return n.maleSurnames
}
