@ssr
Feature: Server-side rendering
  A crawler gets a page rendered on the server; a browser gets the shell that runs the
  client; both are the same page, whatever its content says, and a failing component
  leaves the rest of it (spec/ssr.md; the seed's integration test "SSR with bot
  detection"). The pages are those the target lists in its discovery document's `ssr`
  member; hostile content and failing components are planted through the conformance hook.

  @req-10.2 @id-each-crawler-gets-the-rendered-page
  Scenario: Each crawler of spec/crawlers.toml gets the rendered page
    Given the target lists its pages
    When each crawler of spec/crawlers.toml asks for each page
    Then every answer is the rendered document

  @req-10.2 @id-each-browser-gets-the-shell
  Scenario: Each browser of spec/crawlers.toml gets the shell
    Given the target lists its pages
    When each browser of spec/crawlers.toml asks for each page
    Then every answer is the shell

  @req-10.2 @id-both-answers-vary-by-user-agent
  Scenario: Both answers vary by User-Agent
    Given the target lists its pages
    When a crawler and a browser ask for each page
    Then every answer names User-Agent in Vary

  @req-10.3 @id-the-rendered-page-is-the-clients-page
  Scenario: The rendered document holds the tree the target's client builds from the stream
    Given the target lists its pages
    And the target serves a WASM client
    When a crawler asks for each page and the client renders each page's stream
    Then the rendered root and the client's page are the same tree

  @conformance @req-10.3 @id-hostile-content-comes-back-escaped
  Scenario: Hostile content comes back escaped
    Given the target plants pages
    When I plant a page with every hostile text
    And a crawler asks for the planted page
    Then the title and every text read back exactly and nothing became markup

  @conformance @req-10.3 @id-a-hostile-page-is-the-clients-page
  Scenario: A page of hostile content is the same tree rendered and in the client
    Given the target plants pages
    And the target serves a WASM client
    When I plant a page with every hostile text
    And a crawler asks for the planted page and the client renders its stream
    Then the rendered root and the client's page are the same tree

  @conformance @req-10.4 @id-a-failing-component-leaves-the-page
  Scenario Outline: A component failing with <failure> leaves the rest of the page
    Given the target plants pages
    When I plant a page whose faulty component fails with <failure>
    Then the failing page is answered 200 and is the whole page but for the faulty component
    And the answer reveals nothing of the failure

    Examples:
      | failure |
      | error   |
      | panic   |
