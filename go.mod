module github.com/bankkit/onboarding-adapter

go 1.26.8
